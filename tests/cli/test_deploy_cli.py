"""``loopml deploy``, ``loopml deployments history`` and ``loopml rollback`` as a user runs them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from loopml.sdk import Client
from tests.conftest import run_cli


@pytest.fixture
def registered(client: Client) -> Client:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    for acc in (0.7, 0.9, 0.8):
        client.models.register("churn", model, input_example=x[:2], metrics={"accuracy": acc})
    return client


def _json(env: dict[str, str], *args: str) -> Any:
    res = run_cli(env, *args, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_deploy_best_then_refused_gate_then_rollback(
    registered: Client, env: dict[str, str]
) -> None:
    first = _json(env, "deploy", "churn", "--version", "1")
    assert (
        first["status"] == "deployed"
        and first["version"] == 1
        and first["previous_version"] is None
    )
    best = run_cli(
        env, "deploy", "churn", "--select", "best:accuracy", "--gate", "accuracy >= production"
    )
    assert best.returncode == 0, best.stderr
    assert "deployed churn@production: version 1 → version 2" in best.stdout
    assert "accuracy 0.9 >= production (churn@1: 0.7): passes" in best.stdout
    refused = run_cli(env, "deploy", "churn", "--version", "3", "--gate", "accuracy >= production")
    assert refused.returncode == 1
    assert (
        "not deployed: gate refused: accuracy 0.8 >= production (churn@2: 0.9): fails"
        in refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert registered.models.show("churn@production").version == 2
    back = run_cli(env, "rollback", "churn")
    assert back.returncode == 0 and "version 2 → 1" in back.stdout
    history = _json(env, "deployments", "history", "churn")
    assert [(h["action"], h["version"], h["status"]) for h in history] == [
        ("rollback", 1, "deployed"),
        ("deploy", 3, "refused"),
        ("deploy", 2, "rolled_back"),
        ("deploy", 1, "deployed"),
    ]
    assert {"created_by", "created_at", "gate_result", "previous_version"} <= set(history[0])
    table = run_cli(env, "deployments", "history", "churn")
    assert table.returncode == 0 and "rolled_back" in table.stdout


def test_deploy_to_another_alias_and_by_alias(registered: Client, env: dict[str, str]) -> None:
    assert (
        _json(env, "deploy", "churn", "--version", "3", "--to", "staging")["target"]
        == "churn@staging"
    )
    out = _json(env, "deploy", "churn", "--alias", "staging")
    assert out["version"] == 3 and out["target"] == "churn@production"
    again = run_cli(env, "deploy", "churn", "--alias", "staging")
    assert again.returncode == 0 and "already is version 3" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "churn"], "exactly one of --select"),
        (["deploy", "churn", "--select", "worst:x"], "best:METRIC"),
        (["deploy", "churn", "--version", "7"], "no version 7"),
        (["deploy", "nope", "--version", "1"], "'nope'"),
        (["deploy", "churn", "--version", "1", "--gate", "accuracy =< 1"], "cannot read gate"),
        (["rollback", "churn"], "no deployment to roll back"),
        (["deployments", "history", "bad name"], "invalid model name"),
    ],
)
def test_errors_exit_1_with_a_message(
    registered: Client, env: dict[str, str], args: list[str], message: str
) -> None:
    res = run_cli(env, *args)
    assert res.returncode == 1, res.stdout
    assert message in res.stderr and "Traceback" not in res.stderr
