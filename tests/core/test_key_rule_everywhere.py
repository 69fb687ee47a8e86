"""One key rule: every place that takes a metric, param or tag key gives the same verdict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.names import KEY_RULE, MAX_KEY, is_valid_key, validate_key
from loopml.deployments.gate import parse_gate
from loopml.sdk import Client
from loopml.tracking.filter import parse_filter, parse_order_by

KEYS = [
    # key, accepted
    ("val_loss", True),
    ("val loss", True),
    ("a/b", True),
    ("a..b", True),
    ("epoch.acc-2", True),
    ("_private", True),
    ("b.", True),
    ("x" * MAX_KEY, True),
    (".hidden", False),
    ("-x", False),
    ("ü", False),
    ("", False),
    ("x" * 300, False),
    ("a\x00b", False),
    ("a\nb", False),
    (" lead", False),
    ("trail ", False),
    ("a//b", False),
    ("/a", False),
    ("a/", False),
    ("a/../b", False),
    ("a/.b", False),
]
IDS = [repr(k)[:20] for k, _ in KEYS]


def _verdict(call: Callable[[], Any]) -> str:
    """'accepted' or 'refused'; a refusal must name the rule."""
    try:
        call()
    except NotFound:
        return "accepted"  # the key was fine, there is just nothing under it
    except InvalidInput as exc:
        assert KEY_RULE in str(exc), str(exc)
        return "refused"
    return "accepted"


@pytest.fixture(scope="module")
def model() -> Any:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    return LogisticRegression().fit(x, [0, 0, 1, 1])


@pytest.mark.parametrize(("key", "accepted"), KEYS, ids=IDS)
def test_the_pure_checks_agree(key: str, accepted: bool) -> None:
    assert is_valid_key(key) is accepted
    checks = {
        "validate_key": lambda: validate_key(key, "metric"),
        "filter metrics": lambda: parse_filter(f"metrics.`{key}` > 0"),
        "filter params": lambda: parse_filter(f"params.`{key}` = 'x'"),
        "filter tags": lambda: parse_filter(f'tags."{key}" != "x"'),
        "order by": lambda: parse_order_by(f"metrics.`{key}` desc"),
        "gate": lambda: parse_gate(f"metrics.`{key}` >= production"),
    }
    verdicts = {name: _verdict(call) for name, call in checks.items()}
    assert set(verdicts.values()) == {"accepted" if accepted else "refused"}, verdicts


def _entry_points(client: Client, run: Any, model: Any, key: str) -> dict[str, Callable[[], Any]]:
    return {
        "log_metric": lambda: run.log_metric(key, 1.0),
        "log_metrics": lambda: run.log_metrics({key: 1.0}),
        "log_param": lambda: run.log_param(key, 1),
        "set_tag": lambda: run.set_tag(key, "v"),
        "start_run params": lambda: client.tracking.start_run(
            experiment="e", params={key: 1}
        ).end(),
        "register metrics": lambda: client.models.register("m", model, metrics={key: 0.5}),
        "register params": lambda: client.models.register("p", model, params={key: 1}),
        "register tags": lambda: client.models.register("t", model, tags={key: "v"}),
        "best_version": lambda: client.models.best_version("m", key),
        "search filter": lambda: client.tracking.search_runs("e", f"metrics.`{key}` > 0"),
        "search order": lambda: client.tracking.search_runs("e", order_by=[f"params.`{key}`"]),
    }


def test_every_entry_point_gives_the_same_verdict(client: Client, model: Any) -> None:
    """One client for the whole table (per database): the verdicts do not depend on state."""
    for key, accepted in KEYS:
        with client.tracking.start_run(experiment="e") as run:
            calls = _entry_points(client, run, model, key)
            verdicts = {name: _verdict(call) for name, call in calls.items()}
        expected = "accepted" if accepted else "refused"
        assert set(verdicts.values()) == {expected}, (key, verdicts)
        if accepted:
            assert client.tracking.get_run(run.id).metrics == {key: 1.0}
            query = f"metrics.`{key}` = 1 and params.`{key}` = '1'"
            assert [r.id for r in client.tracking.search_runs("e", query)] == [run.id]
            assert client.models.best_version("m", key).metrics == {key: 0.5}
