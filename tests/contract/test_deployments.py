"""Deploy, gate, rollback and history: the production pipeline's rules, on every database."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml import Client, Conflict, InvalidInput, InvalidName, NotFound
from loopml.api.deployments import DeploymentStatus

pytestmark = pytest.mark.services("models", "deployments")

Cancer = tuple[pd.DataFrame, np.ndarray]


@pytest.fixture
def registry(client: Client) -> Client:
    """Model m: versions 1-3 with accuracy 0.80, 0.90, 0.85 and rmse 3, 2, 1; no aliases."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    for acc, rmse in ((0.80, 3.0), (0.90, 2.0), (0.85, 1.0)):
        client.models.register(
            "m", model, input_example=x[:2], metrics={"accuracy": acc, "rmse": rmse}
        )
    return client


def _alias(client: Client, alias: str = "production") -> int:
    return client.models.show(f"m@{alias}").version


def test_first_deploy_passes_any_alias_gate_and_records_it(registry: Client) -> None:
    d = registry.deployments.deploy("m", version=1, gate="accuracy >= production")
    assert d.status is DeploymentStatus.DEPLOYED and d.deployed
    assert d.version == 1 and d.previous_version is None
    assert d.gate_result is not None and d.gate_result.passed
    assert "does not exist yet" in d.gate_result.reason
    assert _alias(registry) == 1
    assert d.created_by and d.created_at > 0 and d.selector == "version:1"


def test_select_best_by_metric_and_mode(registry: Client) -> None:
    assert registry.deployments.deploy("m", select="best:accuracy").version == 2
    assert registry.deployments.deploy("m", select="best:rmse:min", to="low-error").version == 3
    assert _alias(registry, "low-error") == 3


def test_select_by_alias(registry: Client) -> None:
    registry.models.set_alias("m", "staging", 3)
    d = registry.deployments.deploy("m", alias="staging")
    assert d.version == 3 and d.selector == "alias:staging" and _alias(registry) == 3


def test_a_failing_gate_refuses_and_leaves_the_alias(registry: Client) -> None:
    registry.deployments.deploy("m", version=2)
    d = registry.deployments.deploy("m", version=3, gate="accuracy >= production")
    assert d.status is DeploymentStatus.REFUSED and not d.deployed
    assert d.previous_version == 2 and _alias(registry) == 2
    assert d.reason and "accuracy 0.85 >= production (m@2: 0.9): fails" in d.reason
    ok = registry.deployments.deploy("m", version=3, gate="rmse < production and accuracy > 0.8")
    assert ok.status is DeploymentStatus.DEPLOYED and _alias(registry) == 3
    assert [c.passed for c in ok.gate_result.checks] == [True, True]  # type: ignore[union-attr]


def test_gate_margins_numbers_and_other_aliases(registry: Client) -> None:
    registry.deployments.deploy("m", version=1)
    registry.models.set_alias("m", "staging", 2)
    assert (
        registry.deployments.deploy("m", version=3, gate="accuracy >= production + 0.1").status
        is DeploymentStatus.REFUSED
    )
    assert (
        registry.deployments.deploy("m", version=3, gate="accuracy >= production + 0.04").status
        is DeploymentStatus.DEPLOYED
    )
    assert (
        registry.deployments.deploy("m", version=2, gate="accuracy > staging").status
        is DeploymentStatus.DEPLOYED
    )
    refused = registry.deployments.deploy("m", version=1, gate="auc > 0.5")
    assert refused.status is DeploymentStatus.REFUSED and "records no metric 'auc'" in (
        refused.reason or ""
    )


def test_deploying_the_current_version_is_unchanged(registry: Client) -> None:
    registry.deployments.deploy("m", version=2)
    d = registry.deployments.deploy("m", select="best:accuracy", gate="accuracy > production")
    assert d.status is DeploymentStatus.UNCHANGED and d.deployed and _alias(registry) == 2


def test_rollback_walks_back_the_deployments(registry: Client) -> None:
    for v in (1, 2, 3):
        registry.deployments.deploy("m", version=v)
    back = registry.deployments.rollback("m")
    assert back.action.value == "rollback" and back.version == 2 and back.previous_version == 3
    assert _alias(registry) == 2
    assert registry.deployments.rollback("m").version == 1 and _alias(registry) == 1
    with pytest.raises(Conflict, match="no earlier version"):
        registry.deployments.rollback("m")
    statuses = [
        (d.action.value, d.version, d.status.value) for d in registry.deployments.history("m")
    ]
    assert statuses == [
        ("rollback", 1, "deployed"),
        ("rollback", 2, "deployed"),
        ("deploy", 3, "rolled_back"),
        ("deploy", 2, "rolled_back"),
        ("deploy", 1, "deployed"),
    ]


def test_rollback_refuses_when_the_alias_was_moved_by_hand(registry: Client) -> None:
    registry.deployments.deploy("m", version=1)
    registry.deployments.deploy("m", version=2)
    registry.models.set_alias("m", "production", 3)
    with pytest.raises(Conflict, match="moved outside loopml deploy"):
        registry.deployments.rollback("m")
    with pytest.raises(NotFound, match="no deployment to roll back"):
        registry.deployments.rollback("m", to="staging")


@pytest.mark.services("events")
def test_history_filters_by_alias_and_events_are_appended(registry: Client) -> None:
    registry.deployments.deploy("m", version=1)
    registry.deployments.deploy("m", version=2, to="staging")
    assert [d.alias for d in registry.deployments.history("m")] == ["staging", "production"]
    assert [d.version for d in registry.deployments.history("m", to="staging")] == [2]
    assert registry.deployments.history("other") == []
    kinds = [e.kind.value for e in registry.services.events.read_after(0, limit=1000)]
    assert kinds.count("deployment.recorded") == 2 and kinds.count("model.alias_changed") == 2
    assert registry.deployments.history("m")[0].to_dict()["target"] == "m@staging"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, InvalidInput, "exactly one"),
        ({"version": 1, "alias": "x"}, InvalidInput, "exactly one"),
        ({"select": "top:accuracy"}, InvalidInput, "best:METRIC"),
        ({"select": "best:accuracy:up"}, InvalidInput, "'max' or 'min'"),
        ({"version": 9}, NotFound, "9"),
        ({"alias": "nope"}, NotFound, "nope"),
        ({"select": "best:auc"}, NotFound, "auc"),
        ({"version": 1, "gate": "accuracy >>= 1"}, InvalidInput, "cannot read gate"),
        ({"version": 1, "gate": " "}, InvalidInput, "empty gate"),
        ({"version": 1, "to": "bad name!"}, InvalidName, "alias"),
    ],
)
def test_bad_deploy_requests_say_what_to_do(
    registry: Client, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        registry.deployments.deploy("m", **kwargs)
    assert registry.deployments.history("m") == []


@pytest.mark.local_only(
    "known difference: over the wire the request type check answers first ('not a valid "
    "DeployRequest: Expected `int` >= 1'), not the service's message; both are InvalidInput"
)
def test_a_version_below_one_is_refused_saying_it_must_be_positive(registry: Client) -> None:
    with pytest.raises(InvalidInput, match="positive"):
        registry.deployments.deploy("m", version=0)
    assert registry.deployments.history("m") == []


def test_check_gives_the_verdict_without_recording(registry: Client) -> None:
    registry.deployments.deploy("m", version=2)
    candidate, verdict = registry.deployments.check("m", version=3, gate="accuracy >= production")
    assert candidate.version == 3 and not verdict.passed and "fails" in verdict.reason
    assert len(registry.deployments.history("m")) == 1 and _alias(registry) == 2
