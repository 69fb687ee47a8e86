"""Tables in a narrow terminal: names, versions and ids are never shortened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopml.sdk import Client
from tests.conftest import run_cli

# Several lengths and shapes of valid names; the longest still fits 80 columns beside a version.
NAMES = [
    "customer-churn-monthly-export-eu-west-1",
    "fraud.detection_card-present.v2-candidates",
    "a" + "-long" * 10,
]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Rendering does not depend on the database: SQLite only, to keep the suite fast."""
    return f"sqlite:///{tmp_path / 'meta' / 'loopml.db'}"


@pytest.fixture
def populated(client: Client, tmp_path: Path) -> Client:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    for i, name in enumerate(NAMES):
        data = tmp_path / f"{name}.csv"
        data.write_text("id,score\n" + "".join(f"{n},{n * i}\n" for n in range(20)))
        client.datasets.push(name, data, message="a message " * 6)
        version = client.models.register(name, model, input_example=x[:2])
        client.models.set_alias(name, "production", version.version)
        client.models.set_alias(name, "staging-candidate-for-review", version.version)
        with client.tracking.start_run(name, name[::-1], params={"C": "1"}) as run:
            run.log_metrics({"accuracy": 0.9, "auc": 0.8, "log_loss": 0.3, "f1_macro": 0.7})
    return client


def _lines_fit(text: str, width: int) -> bool:
    return all(len(line) <= width for line in text.splitlines())


@pytest.mark.parametrize("columns", [80, 60])
def test_list_tables_keep_long_names_whole_in_a_narrow_terminal(
    populated: Client, env: dict[str, str], columns: int
) -> None:
    # runs list keeps id, experiment and run name whole, so it may be wider than 80 here
    for command, fits_80 in (
        (["datasets", "list"], True),
        (["models", "list"], True),
        (["runs", "list"], False),
    ):
        res = run_cli({**env, "COLUMNS": str(columns)}, *command)
        assert res.returncode == 0, res.stderr
        for name in NAMES:
            assert name in res.stdout, res.stdout
        assert "…" not in res.stdout, res.stdout
        if fits_80 and columns == 80:
            # the optional columns made room, instead of the table running past the terminal
            assert _lines_fit(res.stdout, 80), res.stdout


@pytest.mark.parametrize("columns", [80, 60])
def test_show_and_history_tables_keep_names_whole(
    populated: Client, env: dict[str, str], columns: int
) -> None:
    narrow = {**env, "COLUMNS": str(columns)}
    name = NAMES[1]
    for args in (
        ["datasets", "show", name],
        ["models", "show", name],
        ["deployments", "history", name],
    ):
        if args[0] == "deployments":
            assert run_cli(narrow, "deploy", name, "--version", "1").returncode == 0
        res = run_cli(narrow, *args)
        assert res.returncode == 0, res.stderr
        assert "…" not in res.stdout, res.stdout
        assert name in res.stdout or f"{name}.csv" in res.stdout, res.stdout
    run = populated.tracking.search_runs([name], None, [], 1)[0]
    shown = run_cli(narrow, "runs", "show", run.id)
    assert shown.returncode == 0 and "f1_macro" in shown.stdout and "log_loss" in shown.stdout
