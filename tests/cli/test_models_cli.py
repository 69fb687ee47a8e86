"""``loopml models …`` as a user runs it: output, ``--json``, and errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path
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
    for auc in (0.7, 0.9, 0.8):
        client.models.register("churn", model, metrics={"auc": auc}, input_example=x[:2])
    client.models.set_alias("churn", "production", 1)
    return client


def _json(env: dict[str, str], *args: str) -> Any:
    res = run_cli(env, "models", *args, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_list_is_empty_then_shows_models(client: Client, env: dict[str, str]) -> None:
    res = run_cli(env, "models", "list")
    assert res.returncode == 0 and "no models yet" in res.stdout
    assert _json(env, "list") == []


def test_list_show_and_best(registered: Client, env: dict[str, str]) -> None:
    [summary] = _json(env, "list")
    assert summary["name"] == "churn" and summary["latest_version"] == 3
    assert summary["aliases"] == {"production": 1}
    shown = _json(env, "show", "churn@production")
    assert shown["ref"] == "churn@1" and shown["aliases"] == ["production"]
    assert shown["flavor"] == "sklearn" and shown["metrics"] == {"auc": 0.7}
    assert {f["path"] for f in shown["files"]} >= {"model.skops", "loopml-model.json"}
    history = _json(env, "show", "churn")
    assert history["ref"] == "churn@3" and [v["version"] for v in history["versions"]] == [1, 2, 3]
    assert _json(env, "best", "churn", "--metric", "auc")["version"] == 2
    assert _json(env, "best", "churn", "--metric", "auc", "--mode", "min")["version"] == 1
    human = run_cli(env, "models", "show", "churn")
    assert human.returncode == 0 and "churn@3" in human.stdout and "history" in human.stdout
    best = run_cli(env, "models", "best", "churn", "--metric", "auc")
    assert best.returncode == 0 and "churn@2: auc = 0.9" in best.stdout


def test_alias_moves_and_reports_the_previous_version(
    registered: Client, env: dict[str, str]
) -> None:
    out = _json(env, "alias", "churn", "3", "production")
    assert out == {
        "name": "churn",
        "alias": "production",
        "version": 3,
        "previous_version": 1,
        "changed": True,
    }
    assert registered.models.show("churn@production").version == 3
    res = run_cli(env, "models", "alias", "churn", "2", "staging")
    assert res.returncode == 0 and "churn@staging → version 2" in res.stdout


def test_pull_writes_the_files(registered: Client, env: dict[str, str], tmp_path: Path) -> None:
    out = _json(env, "pull", "churn@production", str(tmp_path / "m"))
    assert out["ref"] == "churn@1"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(out["files"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "nope"), "model 'nope' does not exist"),
        (("show", "churn@9"), "has no version 9 (latest is 3)"),
        (("show", "churn@staging"), "has no alias 'staging'"),
        (("best", "churn", "--metric", "rmse"), "records metric 'rmse'"),
        (("best", "churn", "--metric", "auc", "--mode", "best"), "mode must be 'max' or 'min'"),
        (("alias", "churn", "x", "production"), "positive whole number"),
        (("alias", "churn", "9", "production"), "has no version 9"),
        (("alias", "churn", "1", "7"), "would read as a version"),
        (("show", "bad name"), "invalid model reference"),
    ],
)
def test_bad_input_exits_1_with_an_error_line(
    registered: Client, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    res = run_cli(env, "models", *args)
    assert res.returncode == 1
    assert res.stderr.startswith("error: ") and message in res.stderr
    assert "Traceback" not in res.stderr


def test_pull_into_a_non_empty_folder_fails_cleanly(
    registered: Client, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("x")
    res = run_cli(env, "models", "pull", "churn", str(tmp_path / "m"))
    assert res.returncode == 1 and "not an empty folder" in res.stderr
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["keep.txt"]
