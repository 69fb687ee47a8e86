"""Alert rules: the keyword forms and conditions in the one expression grammar, judged with
three values (fired, not fired, undecided when the data is missing)."""

from __future__ import annotations

import pytest

from loopml.api.monitoring import QualityEstimate, QualityMetrics, Task
from loopml.api.monitors import MonitorResult
from loopml.core.errors import InvalidInput
from loopml.monitoring.rules import check_rules, judge


def _result(
    accuracy: float | None, coverage: float = 1.0, estimated: float | None = None
) -> MonitorResult:
    quality = QualityMetrics(
        Task.CLASSIFICATION,
        {} if accuracy is None else {"accuracy": accuracy},
        rows=100,
        labelled_rows=int(coverage * 100),
        coverage=coverage,
    )
    estimate = None if estimated is None else QualityEstimate({"accuracy": estimated}, True, 0.01)
    return MonitorResult(
        monitor="m@production",
        monitor_id=1,
        start=0.0,
        end=1.0,
        model="m",
        served_version=1,
        versions=(1,),
        reference="d@1",
        rows=100,
        reference_rows=100,
        skipped_files=0,
        status="ok",
        quality=quality,
        estimate=estimate,
        registered={"accuracy": 0.9},
    )


@pytest.mark.parametrize(
    ("rule", "accuracy", "fired"),
    [
        ("accuracy < registered - 0.05", 0.80, True),
        ("accuracy < registered - 0.05", 0.86, False),
        ("accuracy < registered - 0.05", None, None),
        ("accuracy < 0.5 or label_coverage < 0.5", None, None),
        ("accuracy < 0.5 or label_coverage < 2", None, True),  # an or decided without it
        ("accuracy < 0.5 and label_coverage < 0.5", None, False),  # an and decided without it
        ("not accuracy >= 0.85", 0.80, True),
        ("not accuracy >= 0.85", None, None),
        ("estimated.accuracy < registered - 0.1", None, True),
        ("dataset_drift", 0.8, None),  # no drift computed in this result
        ("drift:age", 0.8, None),
    ],
)
def test_rules_fire_only_on_what_is_known(
    rule: str, accuracy: float | None, fired: bool | None
) -> None:
    [outcome] = judge(check_rules([rule]), _result(accuracy, estimated=0.7))
    assert outcome.fired is fired, outcome.evidence
    assert outcome.evidence


def test_the_evidence_shows_the_values_compared() -> None:
    [outcome] = judge(("accuracy < registered - 0.05",), _result(0.8))
    assert outcome.evidence == "accuracy 0.8 < registered 0.9 -0.05 = 0.85: yes"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "empty rule"),
        ("drift:", "names no column"),
        ("accuracy <", "cannot read rule"),
        ("accuracy like 'a'", "rules compare with"),
        ("rows < registered", "no registered value"),
        ("accuracy < production", "a number or registered"),
        ("metrics.accuracy < 1", "unknown name"),
        ("acuracy < 0.8", "unknown name 'acuracy'"),
        ("estimated.rows < 3", "unknown name"),
    ],
)
def test_a_rule_that_does_not_read_says_how_to_write_one(rule: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_rules([rule])
