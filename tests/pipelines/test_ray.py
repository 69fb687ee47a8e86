"""The Ray executor against a real Ray head on 127.0.0.1: steps run as Ray tasks in Ray worker
processes, with their resource requests, and artifacts pass through the shared stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInput
from loopml.core.settings import load_settings
from loopml.pipelines.executor_ray import check_stores
from loopml.sdk import Client
from tests.pipelines import files

RAY_PIPELINE = """
import os
from loopml.pipelines import current_step, pipeline, step


def where():
    import ray

    return {"pid": os.getpid(), "task": ray.get_runtime_context().get_task_id()}


@step(resources={"cpu": 1, "memory": "64MB"})
def make(n: int):
    return {"xs": list(range(n)), **where()}


@step
def add(data, k: int):
    current_step().log_metric(f"sum_{k}", sum(data["xs"]) + k)
    return {"total": sum(data["xs"]) + k, **where()}


@step
def fail(data):
    raise KeyError("missing column")


@step
def gather(a, b):
    return [a["total"], b["total"]]


@pipeline
def fan(n: int = 4):
    data = make(n)
    gather(add(data, 1), add(data, 2))
    fail(data)
"""


def test_steps_run_as_ray_tasks_in_ray_workers(
    client: Client, tmp_path: Path, ray_address: str
) -> None:
    path = files.write(tmp_path, "ray_flow.py", RAY_PIPELINE)
    run = client.pipelines.run(f"{path}:fan", executor="ray", ray_address=ray_address)
    assert run.executor == "ray"
    assert run.status.value == "failed"
    got = {s.name: s.status.value for s in run.steps}
    assert got == {
        "make": "succeeded",
        "add": "succeeded",
        "add_2": "succeeded",
        "gather": "succeeded",
        "fail": "failed",
    }
    assert "KeyError: 'missing column'" in (run.step("fail").error or "")
    made = client.pipelines.load_output(run.id, "make")
    assert made["task"] is not None and made["pid"] != os.getpid()
    assert client.pipelines.load_output(run.id, "gather") == [7, 8]
    assert client.tracking.get_run(run.id).metrics == {"sum_1": 7.0, "sum_2": 8.0}
    again = client.pipelines.run(f"{path}:fan", executor="ray", ray_address=ray_address)
    assert again.step("gather").status.value == "cached"
    assert again.step("fail").status.value == "failed"


def test_ray_needs_an_address(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = files.write(tmp_path, "ray_flow.py", RAY_PIPELINE)
    with pytest.raises(InvalidInput, match="--ray-address HOST:PORT"):
        client.pipelines.run(f"{path}:fan", executor="ray")


def test_stores_that_remote_nodes_cannot_reach_are_refused(tmp_path: Path) -> None:
    sqlite = load_settings(env={}, home=str(tmp_path))
    assert check_stores(sqlite, {"127.0.0.1"}) == []
    with pytest.raises(InvalidInput, match="cannot reach the SQLite database"):
        check_stores(sqlite, {"127.0.0.1", "10.1.2.3"})
    local_pg = load_settings(env={}, home=str(tmp_path), db="postgresql://u@127.0.0.1/db")
    with pytest.raises(InvalidInput, match="loopback"):
        check_stores(local_pg, {"10.1.2.3"})
    shared = load_settings(env={}, home=str(tmp_path), db="postgresql://u@db.internal/db")
    notes = check_stores(shared, {"10.1.2.3"})
    assert len(notes) == 1 and "shared folder" in notes[0]
    s3 = load_settings(
        env={}, home=str(tmp_path), db="postgresql://u@db.internal/db", blobs="s3://b/p"
    )
    assert check_stores(s3, {"10.1.2.3"}) == []
