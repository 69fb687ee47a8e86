"""``loopml trigger …`` as a user runs it: bad input refused with exit 1 and no traceback; a
manual firing run by ``loopml worker --once`` and shown by ``trigger show --json``."""

from __future__ import annotations

import json
from pathlib import Path

from loopml.sdk import Client
from tests.conftest import run_cli
from tests.plugins.db import SQLITE_ONLY
from tests.triggers.conftest import make_datasets

# The rules are the service's (tested over both databases in test_service.py); the CLI part is
# the exit code and the message, the same over either: one database keeps these fast.


@SQLITE_ONLY
def test_trigger_add_refuses_bad_input_with_exit_1_and_a_clear_message(
    client: Client, env: dict[str, str], tmp_path: Path, pipeline_file: Path
) -> None:
    make_datasets(client, tmp_path, ["churn"])
    run = f"{pipeline_file}:training"
    cases = [
        (["--on", "dataset:nope", "--run", run], "nope"),
        (["--on", "model:nope", "--run", run], "nope"),
        (["--on", "alert:nope@production", "--run", run], "deployment"),
        (["--on", "dataset:churn", "--run", str(tmp_path / "missing.py") + ":x"], "does not exist"),
        (["--on", "schedule:61 * * *", "--run", run], "cron"),
        (["--on", "schedule:0 3 * * *", "--tz", "Mars/Base", "--run", run], "time zone"),
        (["--on", f"code:{tmp_path}", "--run", run], "not a git repository"),
        (["--on", "dataset:churn", "--run", run, "-p", "d={event.nope}"], "nope"),
    ]
    for args, says in cases:
        done = run_cli(env, "trigger", "add", "bad", *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert says in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert json.loads(run_cli(env, "trigger", "list", "--json").stdout) == []


@SQLITE_ONLY
def test_manual_fire_worker_once_and_show_json_lists_the_firing(
    env: dict[str, str], pipeline_file: Path
) -> None:
    add = run_cli(
        env,
        "trigger",
        "add",
        "m",
        "--on",
        "manual",
        "--run",
        f"{pipeline_file}:training",
        "-p",
        "dataset=x",
    )
    assert add.returncode == 0, add.stderr
    assert run_cli(env, "trigger", "fire", "m").returncode == 0
    worked = run_cli(env, "worker", "--once", "--json")
    assert worked.returncode == 0, worked.stderr
    [job] = json.loads(worked.stdout)["jobs"]
    assert job["status"] == "succeeded"
    shown = json.loads(run_cli(env, "trigger", "show", "m", "--json").stdout)
    [firing] = shown["firings"]
    assert firing["status"] == "succeeded" and firing["run_id"] == job["run_id"]
    assert firing["event"].startswith("manual:")
    jobs = json.loads(run_cli(env, "jobs", "list", "--json").stdout)
    assert [j["id"] for j in jobs] == [job["id"]]
    assert run_cli(env, "jobs", "cancel", str(job["id"])).returncode == 1  # ended already
    assert run_cli(env, "trigger", "remove", "m").returncode == 0
