"""Deploy gates through the deployments service: a missing metric never passes, odd metric
keys are quoted as in run filters, and an alias that reads as a version is refused (every form
of the grammar and its errors: tests/deployments/test_gate_grammar.py)."""

from __future__ import annotations

import pytest

from loopml import Client
from tests.plugins.models import fill_gate_registry

pytestmark = pytest.mark.services("models", "deployments")


@pytest.fixture
def registry(client: Client, tiny_model: object) -> Client:
    """The registry of ``fill_gate_registry`` (tests/plugins/models.py)."""
    return fill_gate_registry(client, tiny_model)  # type: ignore[no-any-return]


def test_a_missing_metric_never_passes_through_not(registry: Client) -> None:
    for text in ("not accuracy > 0.5", "accuracy > 0.5", "not (accuracy > 2 and rmse < 5)"):
        _, verdict = registry.deployments.check("m", version=3, gate=text)
        assert not verdict.passed, text
        assert "records no metric 'accuracy'" in verdict.reason
    _, verdict = registry.deployments.check("m", version=3, gate="accuracy > 0.5 or rmse < 2")
    assert verdict.passed  # the other side decides


def test_odd_metric_keys_are_quoted_like_in_filters(registry: Client) -> None:
    _, verdict = registry.deployments.check("m", version=3, gate="metrics.`val loss` < 0.2")
    assert verdict.passed and verdict.checks[0].metric == "val loss"


@pytest.mark.parametrize("to", ["7", "007"])
def test_deploy_and_rollback_refuse_an_alias_that_reads_as_a_version(
    client: Client, to: str
) -> None:
    from loopml import InvalidName

    with pytest.raises(InvalidName, match="would read as a version"):
        client.deployments.deploy("m", version=1, to=to)
    with pytest.raises(InvalidName, match="would read as a version"):
        client.deployments.rollback("m", to=to)
