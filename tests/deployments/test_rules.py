"""The deployment rules below the service: the gate parser, the status machine, and the
production pipeline's function (called directly with the services)."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.core.errors import Conflict
from loopml.deployments import DeploymentStatus
from loopml.deployments.gate import parse_gate
from loopml.deployments.lifecycle import check_transition
from loopml.sdk import Client


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


def test_gate_parser_reads_every_form() -> None:
    clauses = parse_gate(
        "accuracy >= production and rmse < staging - 0.5 and auc > 1e-3 and f1 != current"
    )
    assert [(c.metric, c.op, c.number, c.alias, c.margin) for c in clauses] == [
        ("accuracy", ">=", None, "production", 0.0),
        ("rmse", "<", None, "staging", -0.5),
        ("auc", ">", 0.001, None, 0.0),
        ("f1", "!=", None, "current", 0.0),
    ]


def test_only_legal_status_moves() -> None:
    check_transition(1, DeploymentStatus.PENDING, DeploymentStatus.DEPLOYED)
    check_transition(1, DeploymentStatus.DEPLOYED, DeploymentStatus.ROLLED_BACK)
    with pytest.raises(Conflict):
        check_transition(1, DeploymentStatus.REFUSED, DeploymentStatus.DEPLOYED)
    with pytest.raises(Conflict):
        check_transition(1, DeploymentStatus.ROLLED_BACK, DeploymentStatus.DEPLOYED)


def test_the_production_pipeline_uses_the_same_rules(registry: Client) -> None:
    from loopml.pipelines.production import run_production

    out = run_production(
        "m", select="best:accuracy", gate="accuracy >= production", services=registry.services
    )
    assert out["status"] == "deployed" and out["version"] == 2 and out["target"] == "m@production"
    again = run_production(
        "m", version=3, gate="accuracy >= production", services=registry.services
    )
    assert again["status"] == "refused" and _alias(registry) == 2
