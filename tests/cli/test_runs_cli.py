"""The ``loopml runs`` commands as a user runs them: exit codes, messages, --json; and a
training process killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loopml.sdk import Client
from tests.conftest import run_cli
from tests.contract.test_search import DEEP


@pytest.fixture
def two_runs(client: Client) -> list[str]:
    ids = []
    for model, acc in (("lr", 0.91), ("rf", 0.87)):
        with client.tracking.start_run(experiment="churn", name=f"{model} run") as run:
            run.log_params({"model": model, "seed": 7})
            for step, value in enumerate((0.5, 0.7, acc)):
                run.log_metric("accuracy", value, step=step)
            run.set_tag("owner", "ana")
        ids.append(run.id)
    return ids


def test_list_show_compare_json(env: dict[str, str], two_runs: list[str]) -> None:
    lr, rf = two_runs
    r = run_cli(env, "runs", "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [x["id"] for x in listed] == [rf, lr]
    assert "environment" not in listed[0] and "metric_summaries" not in listed[0]
    assert listed[0]["metrics"] == {"accuracy": 0.87}

    r = run_cli(
        env,
        "runs",
        "list",
        "--experiment",
        "churn",
        "--filter",
        "metrics.accuracy > 0.9 and params.model = 'lr'",
        "--json",
    )
    assert [x["name"] for x in json.loads(r.stdout)] == ["lr run"]

    r = run_cli(env, "runs", "list", "-o", "metrics.accuracy asc", "--limit", "1", "--json")
    assert [x["id"] for x in json.loads(r.stdout)] == [rf]

    shown = json.loads(run_cli(env, "runs", "show", lr[:10], "--json").stdout)
    assert shown["id"] == lr and shown["status"] == "finished"
    assert shown["params"] == {"model": "lr", "seed": "7"}
    assert shown["metrics"] == {"accuracy": 0.91}
    assert shown["metric_summaries"]["accuracy"]["count"] == 3
    assert shown["tags"] == {"owner": "ana"}
    assert shown["environment"]["python"]
    assert shown["elapsed_s"] >= 0

    cmp = json.loads(run_cli(env, "runs", "compare", lr, rf, "--json").stdout)
    assert cmp["params"]["model"] == {lr: "lr", rf: "rf"}
    assert cmp["metrics"]["accuracy"] == {lr: 0.91, rf: 0.87}
    assert cmp["differing_params"] == ["model"]


def test_human_output(env: dict[str, str], two_runs: list[str]) -> None:
    lr, rf = two_runs
    listed = run_cli(env, "runs", "list")
    assert listed.returncode == 0 and "lr run" in listed.stdout and "accuracy" in listed.stdout
    shown = run_cli(env, "runs", "show", lr)
    assert shown.returncode == 0 and "churn/lr run" in shown.stdout and "0.91" in shown.stdout
    cmp = run_cli(env, "runs", "compare", lr, rf)
    assert cmp.returncode == 0 and "params.model" in cmp.stdout and "metrics.accuracy" in cmp.stdout
    assert "differ" in cmp.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("show", "0123456789abcdef0123456789abcdef"), "does not exist"),
        (("show", "not-an-id"), "does not exist"),
        (("compare", "0123456789abcdef0123456789abcdef", "ffff"), "does not exist"),
        (("compare", "abcd"), "at least two run ids"),
        (("list", "--experiment", "nope"), "experiment 'nope' does not exist"),
        (("list", "--filter", "metrics.accuracy > and x"), "column 20"),
        (("list", "--order-by", "metrics.accuracy sideways"), "expected asc, desc"),
    ],
)
def test_bad_input_exits_1_with_a_message(
    env: dict[str, str], two_runs: list[str], args: tuple[str, ...], says: str
) -> None:
    r = run_cli(env, "runs", *args)
    assert r.returncode == 1, r.stdout
    assert r.stderr.startswith("error: ") and says in r.stderr
    assert "Traceback" not in r.stderr


def test_filter_error_points_at_the_position(env: dict[str, str], two_runs: list[str]) -> None:
    r = run_cli(env, "runs", "list", "--filter", "metrics.accuracy > and x")
    lines = r.stderr.splitlines()
    assert lines[1] == "  metrics.accuracy > and x"
    assert lines[2] == "  " + " " * 19 + "^"


def test_empty_store_lists_nothing(env: dict[str, str]) -> None:
    r = run_cli(env, "runs", "list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    assert "no runs yet" in run_cli(env, "runs", "list").stdout


KILLED_SCRIPT = """
import time
import loopml

run = loopml.start_run(experiment="crash", name="doomed")
loopml.log_param("lr", 0.1)
for i in range(500):
    loopml.log_metric("loss", 1.0 / (i + 1), step=i)
loopml.flush()
print(run.id, flush=True)
i = 500
while True:  # keeps logging, unacknowledged, until it is killed
    loopml.log_metric("loss", 1.0 / (i + 1), step=i)
    i += 1
    time.sleep(0.0005)
"""


@pytest.mark.slow
def test_sigkilled_run_is_lost_and_keeps_every_flushed_metric(
    env: dict[str, str], client: Client, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(KILLED_SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert len(run_id) == 32, proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    r = run_cli(env, "runs", "show", run_id, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "running"  # showing never reaps
    reaped = run_cli(env, "runs", "reap")
    assert reaped.returncode == 0 and run_id[:8] in reaped.stdout, reaped.stderr
    r = run_cli(env, "runs", "show", run_id, "--json")
    shown = json.loads(r.stdout)
    assert shown["status"] == "lost"  # its process is gone: reaped by `runs reap`
    assert shown["end_time"] is not None
    assert shown["params"] == {"lr": "0.1"}
    assert shown["metric_summaries"]["loss"]["count"] >= 500
    steps = [p.step for p in client.tracking.metric_history(run_id, "loss")]
    assert steps[:500] == list(range(500))  # every acknowledged point, once
    assert steps == sorted(set(steps))
    human = run_cli(env, "runs", "show", run_id)
    assert "lost" in human.stdout


def test_deep_filters_on_the_cli_exit_1_without_a_traceback(tmp_path: Path) -> None:
    """The parser refuses before any store is read, so one (SQLite) home is enough."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(LOOPML_HOME=str(tmp_path / "home"), COLUMNS="200")
    for flt, depth in (DEEP[0], DEEP[3]):
        r = run_cli(env, "runs", "list", "--filter", flt)
        assert r.returncode == 1, r.stderr
        assert f"nests {depth} levels deep; at most 24 are allowed" in r.stderr
        assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr
        assert max(len(line) for line in r.stderr.splitlines()) < 200
