"""What ``--help`` and ``--version`` tell a new user, and that model names never clash with
command words."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import loopml
from loopml.sdk import Client
from tests.conftest import run_cli

COMMANDS = [
    "trigger",
    "jobs",
    "controller",
    "worker",
    "datasets",
    "runs",
    "models",
    "pipeline",
    "deploy",
    "rollback",
    "deployments",
    "serve",
    "monitor",
    "fsck",
    "gc",
    "demo",
    "server",
    "token",
    "ui",
]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Argument parsing does not depend on the database: SQLite only, to keep the suite fast."""
    return f"sqlite:///{tmp_path / 'meta' / 'loopml.db'}"


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**env, "LOOPML_HOME": str(tmp_path / "home"), "COLUMNS": "100"}


def test_version_prints_the_package_version(bare_env: dict[str, str]) -> None:
    res = run_cli(bare_env, "--version")
    assert res.returncode == 0 and res.stdout == f"loopml {loopml.__version__}\n", res.stderr


def test_top_level_help_describes_only_commands_that_exist(bare_env: dict[str, str]) -> None:
    res = run_cli(bare_env, "--help")
    assert res.returncode == 0
    for command in COMMANDS:
        assert f"│ {command} " in res.stdout, res.stdout
        sub = run_cli(bare_env, command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert f"Usage: loopml {command} " in sub.stdout, sub.stdout
        # no hidden dispatch word leaks into the usage line, no shell-completion noise
        assert f"loopml {command} run" not in sub.stdout or command == "pipeline"
        assert "completion" not in sub.stdout


def test_deploy_help_shows_the_name_argument(bare_env: dict[str, str]) -> None:
    res = run_cli(bare_env, "deploy", "--help")
    assert res.returncode == 0
    assert "Usage: loopml deploy [OPTIONS] NAME" in res.stdout
    for option in ("--select", "--version", "--alias", "--gate", "--to", "--json"):
        assert option in res.stdout


def test_usage_errors_exit_2(bare_env: dict[str, str]) -> None:
    for args in (["deploy"], ["rollback"], ["deployments", "history"], ["nope"]):
        res = run_cli(bare_env, *args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr


@pytest.mark.parametrize("name", ["history", "list", "show", "rollback", "run"])
def test_models_named_like_command_words_deploy_and_roll_back(
    client: Client, env: dict[str, str], name: str
) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    for acc in (0.7, 0.9):
        client.models.register(name, model, input_example=x[:2], metrics={"accuracy": acc})
    first = run_cli(env, "deploy", name, "--version", "1")
    assert first.returncode == 0, first.stderr
    best = run_cli(
        env, "deploy", name, "--select", "best:accuracy", "--gate", "accuracy >= production"
    )
    assert best.returncode == 0 and f"{name}@production: version 1 → version 2" in best.stdout
    back = run_cli(env, "rollback", name, "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["version"] == 1
    assert client.models.show(f"{name}@production").version == 1
    history = run_cli(env, "deployments", "history", name, "--json")
    assert history.returncode == 0, history.stderr
    assert [h["action"] for h in json.loads(history.stdout)] == ["rollback", "deploy", "deploy"]
