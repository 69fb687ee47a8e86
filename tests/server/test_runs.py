"""Runs and search over a real ``loopml server`` process (SQLite and PostgreSQL behind it):
the SDK's tracking flow with ``LOOPML_URI`` set, the ``loopml runs`` CLI against the server,
bad input answered with JSON 4xx, and pagination of ``GET /runs``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.api.runs import LogBatch, RunStatus, RunValues
from loopml.connect import Services, connect
from loopml.core.errors import Conflict, InvalidInput, InvalidName, NotFound, StoreError
from loopml.core.settings import Settings, load_settings
from loopml.sdk import Client
from tests.conftest import run_cli
from tests.plugins.server import (
    LOOPML_BIN,
    STARTUP_TIMEOUT,
    ServerProcess,
    _answers,
    free_port,
    store_env,
)

pytestmark = pytest.mark.timeout(120)

TRAIN = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import loopml

    out = Path(sys.argv[1])
    (out / "model.txt").write_text("weights")
    (out / "plots").mkdir()
    (out / "plots" / "loss.csv").write_text("step,loss\\n0,1.0\\n")
    ids = []
    for lr, model in ((0.1, "lr"), (0.01, "rf"), (0.001, "lr")):
        with loopml.start_run(experiment="churn", params={"lr": lr}) as run:
            loopml.log_param("model", model)
            loopml.set_tag("team", "a")
            for step in range(300):
                loopml.log_metric("loss", 1.0 / (step + 1) + lr, step=step)
            loopml.log_metrics({"accuracy": 1 - lr, "val/loss": lr})
            if model == "rf":
                loopml.log_artifact(out / "model.txt")
                loopml.log_artifact(out / "plots", artifact_path="figs")
                loopml.log_input("data@1")
            ids.append(run.id)
    try:
        with loopml.start_run(experiment="churn", name="crash") as crashed:
            loopml.log_metric("loss", 9.0)
            raise RuntimeError("diverged")
    except RuntimeError:
        pass
    print(" ".join(ids + [crashed.id]))
    """
)


@pytest.fixture
def remote(server: ServerProcess, tmp_path: Path) -> Iterator[Services]:
    services = connect(load_settings(env={}, home=str(tmp_path / "remote"), uri=server.url))
    yield services
    services.close()


def _api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url + "/api/v1", timeout=30)


def test_sdk_tracking_flow_through_loopml_uri(
    server: ServerProcess,
    remote_env: dict[str, str],
    remote: Services,
    settings: Settings,
    tmp_path: Path,
) -> None:
    # the dataset the run reads: pushed straight into the server's stores
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    local = Client(settings)
    try:
        local.datasets.push("data", tmp_path / "data.csv")
    finally:
        local.close()
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    done = subprocess.run(
        [sys.executable, str(script), str(work)],
        env=remote_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lr1, rf, lr3, crashed = done.stdout.split()

    # what the server stored, read back through the remote services
    run = remote.runs.get_run(rf)
    assert run.status is RunStatus.FINISHED and run.experiment == "churn"
    assert run.params == {"lr": "0.01", "model": "rf"} and run.tags == {"team": "a"}
    assert run.metrics == {
        "loss": pytest.approx(1 / 300 + 0.01),
        "accuracy": 0.99,
        "val/loss": 0.01,
    }
    assert run.metric_summaries["loss"].count == 300
    assert run.inputs == ("data@1",)
    assert sorted(a.path for a in run.artifacts) == ["figs/loss.csv", "model.txt"]
    history = remote.runs.metric_history(rf, "loss")
    assert [p.step for p in history] == list(range(300))
    assert remote.runs.metric_history(rf[:8], "val/loss")[0].value == 0.01
    assert remote.runs.run_status(crashed) is RunStatus.FAILED
    failed = remote.runs.get_run(crashed)
    assert "RuntimeError: diverged" in (failed.error or "") and failed.metrics == {"loss": 9.0}
    assert remote.runs.resolve_run_id(rf[:6]) == rf

    # search with a filter and an order, through the SDK's search and GET /runs
    found = remote.search.search_runs(
        "churn", "params.model = 'lr' and metrics.accuracy > 0.5", "metrics.accuracy desc"
    )
    assert [r.id for r in found] == [lr3, lr1]
    assert [r.id for r in remote.search.list_runs("churn")] == [crashed, lr3, rf, lr1]
    with pytest.raises(InvalidInput, match="metrics"):
        remote.search.search_runs(filter="metrics.accuracy >>> 1")
    with pytest.raises(NotFound):
        remote.search.search_runs("no-such-experiment")

    # artifacts come back as verified attachments
    artifact, data = remote.runs.open_artifact(rf, "figs/loss.csv")
    assert artifact.size == len(b"step,loss\n0,1.0\n")
    assert b"".join(data) == b"step,loss\n0,1.0\n"
    with _api(server) as api:
        got = api.get(f"/runs/{rf}/artifacts/model.txt")
        assert got.content == b"weights"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("attachment;")
        again = api.get(
            f"/runs/{rf}/artifacts/model.txt", headers={"If-None-Match": got.headers["etag"]}
        )
        assert again.status_code == 304
        # a finished run's history never changes: it has an ETag
        hist = api.get(f"/runs/{rf}/metrics/loss")
        assert hist.headers.get("etag")
        assert (
            api.get(
                f"/runs/{rf}/metrics/loss", headers={"If-None-Match": hist.headers["etag"]}
            ).status_code
            == 304
        )


def test_runs_cli_against_the_server(remote_env: dict[str, str], remote: Services) -> None:
    tracker = remote.tracker
    ids = []
    for acc, model in ((0.7, "lr"), (0.9, "lr"), (0.8, "rf")):
        with tracker.start_run("churn", params={"model": model}) as run:
            run.log_metrics({"accuracy": acc})
            ids.append(run.id)
    listed = run_cli(
        remote_env,
        "runs", "list", "--json", "-e", "churn",
        "--filter", "params.model = 'lr'", "--order-by", "metrics.accuracy asc",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == ids[:2]
    shown = run_cli(remote_env, "runs", "show", ids[2][:8], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["metrics"] == {"accuracy": 0.8}
    missing = run_cli(remote_env, "runs", "show", "0" * 32)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_lifecycle_batches_and_heartbeats(remote: Services, tmp_path: Path) -> None:
    tracker = remote.tracker
    run = tracker.start_run("exp", "first", params={"a": 1})
    tracker.log_params(run.id, {"b": "x"})
    tracker.log_metric_batch(run.id, [("m", float(i), i) for i in range(2000)])
    tracker.flush()
    assert remote.runs.get_run(run.id).metric_summaries["m"].count == 2000
    assert remote.runs.heartbeat((run.id,)) == {}
    with pytest.raises(Conflict):
        remote.runs.log_params(run.id, {"a": "2"})
    remote.runs.set_tags(run.id, {"t": "1"})
    run.end()
    assert remote.runs.heartbeat((run.id,)) == {run.id: RunStatus.FINISHED}
    with pytest.raises(Conflict):
        remote.runs.end_run(run.id, "killed")
    # a param another writer set first comes back as a late clash, the first value kept
    late = remote.runs.log_batch(LogBatch(params=(RunValues(run.id, {"a": "3"}),)))
    assert len(late) == 1 and "'a'" in late[0]
    assert remote.runs.get_run(run.id).params == {"a": "1", "b": "x"}
    with pytest.raises(InvalidInput, match="metric key"):
        remote.runs.metric_history(run.id, "../x")
    single = tmp_path / "one.bin"
    single.write_bytes(bytes(range(256)) * 100)
    [stored] = remote.runs.log_artifact(run.id, single, "bin")
    assert stored.path == "bin/one.bin" and stored.size == 25_600
    artifact, data = remote.runs.open_artifact(run.id, "bin/one.bin")
    assert artifact == stored and b"".join(data) == single.read_bytes()
    odd = tmp_path / "odd"
    (odd / "sub dir").mkdir(parents=True)
    (odd / "sub dir" / "grün 100% #1?.txt").write_text("odd")
    [named] = remote.runs.log_artifact(run.id, odd)
    assert named.path == "sub dir/grün 100% #1?.txt"
    assert b"".join(remote.runs.open_artifact(run.id, named.path)[1]) == b"odd"


def test_bad_input_is_json_4xx_and_writes_nothing(server: ServerProcess, remote: Services) -> None:
    run = remote.tracker.start_run("exp")
    rid = run.id
    with _api(server) as api:

        def refused(response: httpx.Response, *statuses: int) -> dict[str, object]:
            assert response.status_code in statuses, (response.status_code, response.text)
            body = response.json()
            assert body["error"]
            return dict(body)

        refused(api.get("/runs/nope"), 404)
        assert "does not exist" in str(refused(api.get("/runs/" + "0" * 32), 404)["error"])
        refused(api.get(f"/runs/{'0' * 32}/metrics/loss"), 404)
        refused(api.get(f"/runs/{'0' * 32}/status"), 404)
        refused(api.post(f"/runs/{'0' * 32}/end", json={}), 404)
        refused(api.post(f"/runs/{rid}/end", json={"status": "sideways"}), 422)
        refused(api.post(f"/runs/{rid}/params", json={"values": {"bad key!": "1"}}), 400, 422)
        refused(api.post(f"/runs/{rid}/params", json={"values": {"a": 1}}), 422)
        refused(api.post(f"/runs/{rid}/inputs", json={"dataset": "none@1"}), 404)
        refused(api.get(f"/runs/{rid}/metrics/bad%20key%20"), 400, 422)
        refused(api.post("/runs", json={"id": "x"}), 422)
        new_run = {
            "id": rid,
            "experiment": "exp",
            "name": "again",
            "start_time": 1.0,
            "created_by": "me",
            "code": {},
            "environment": {},
        }
        refused(api.post("/runs", json=new_run), 409)  # the id is taken
        for bad in ({"id": "Z" * 40}, {"parent_run_id": "x" * 40}, {"start_time": -5.0},
                    {"host": "h" * 300}, {"pid": -1}, {"experiment": "../x"}):  # fmt: skip
            refused(api.post("/runs", json={**new_run, "id": uuid.uuid4().hex, **bad}), 400, 422)
        # metric batches a tracker would never build
        bad_batches = [
            {
                "points": {
                    "run_ids": [rid],
                    "keys": ["m"],
                    "steps": [],
                    "timestamps": [1.0],
                    "values": [1.0],
                }
            },
            {
                "points": {
                    "run_ids": [rid],
                    "keys": ["../m"],
                    "steps": [0],
                    "timestamps": [1.0],
                    "values": [1.0],
                }
            },
            {
                "points": {
                    "run_ids": [rid],
                    "keys": ["m"],
                    "steps": [0],
                    "timestamps": [-1.0],
                    "values": [1.0],
                }
            },
            {
                "points": {
                    "run_ids": [rid],
                    "keys": ["m"],
                    "steps": [0],
                    "timestamps": [1.0],
                    "values": ["x"],
                }
            },
            {
                "points": {
                    "run_ids": ["0" * 32],
                    "keys": ["m"],
                    "steps": [0],
                    "timestamps": [1.0],
                    "values": [1.0],
                }
            },
            {"tags": [{"run_id": "0" * 32, "values": {"t": "1"}}]},
            {"tags": [{"run_id": rid, "values": {"t": "a\u0000b"}}]},
            {"params": [{"run_id": "f" * 200, "values": {"p": "1"}}]},
        ]
        for body in bad_batches:
            refused(api.post("/runs/batch", json=body), 400, 404, 422)
        # traversal and tricks in artifact paths, uploading and downloading
        tricks = [
            "%2e%2e%2fetc%2fpasswd",
            "..%2f..%2fsecret",
            "%252e%252e%252fsecret",
            "a/%2e%2e/%2e%2e/secret",
            "x%00y",
            "a%5cb",
            "a\\b",
            "%2fetc%2fpasswd",
            "a;b/%2e%2e",
            "x" * 300,
        ]
        for trick in tricks:
            put = api.put(
                f"/runs/{rid}/artifacts/{trick}",
                content=b"evil",
                headers={"content-type": "application/octet-stream"},
            )
            assert refused(put, 422)["field"] == "path"
            assert refused(api.get(f"/runs/{rid}/artifacts/{trick}"), 422)["field"] == "path"
        refused(api.get(f"/runs/{rid}/artifacts/missing.txt"), 404)
        refused(
            api.put(
                f"/runs/{rid}/artifacts/a.txt", content=b"x", headers={"content-type": "text/plain"}
            ),
            415,
        )
        refused(
            api.put(
                f"/runs/{'0' * 32}/artifacts/a.txt",
                content=b"x",
                headers={"content-type": "application/octet-stream"},
            ),
            404,
        )
        refused(api.get("/runs", params={"filter": "metrics.x >"}), 400, 422)
        refused(api.get("/runs", params={"limit": 0}), 422)
        refused(api.get("/runs", params={"limit": 1001}), 422)
        refused(api.get("/runs", params={"page_token": "zz"}), 422)
    run.end()
    stored = remote.runs.get_run(rid)
    assert stored.artifacts == () and stored.params == {} and stored.tags == {}
    assert stored.metrics == {} and stored.status is RunStatus.FINISHED


def test_runs_are_paginated(server: ServerProcess, remote: Services) -> None:
    from loopml.api.runs import NewRun

    ids = []
    for i in range(25):
        run_id = uuid.uuid4().hex
        remote.runs.start_run(
            NewRun(run_id, "pages", f"r{i}", 1000.0 + i, "me", {}, {}, params={"i": str(i)})
        )
        ids.append(run_id)
    newest_first = ids[::-1]
    with _api(server) as api:
        seen: list[str] = []
        token = None
        sizes = []
        while True:
            params: dict[str, object] = {"experiment": "pages", "limit": 10}
            if token:
                params["page_token"] = token
            body = api.get("/runs", params=params).json()
            sizes.append(len(body["items"]))
            seen += [r["id"] for r in body["items"]]
            token = body["next_page_token"]
            if not token:
                break
    assert sizes == [10, 10, 5] and seen == newest_first
    assert [r.id for r in remote.search.search_runs("pages", limit=25)] == newest_first
    assert [r.id for r in remote.search.search_runs("pages", limit=7)] == newest_first[:7]
    ordered = remote.search.search_runs("pages", order_by="params.i asc", limit=3)
    assert [r.name for r in ordered] == ["r0", "r1", "r10"]  # params are text
    with pytest.raises(InvalidInput, match="limit"):
        remote.search.search_runs(limit=0)
    with pytest.raises(InvalidName):
        remote.runs.get_experiment("a/b")
    with _api(server) as api:
        doc = api.get("/openapi.json").json()
    assert {"/api/v1/runs", "/api/v1/runs/batch", "/api/v1/runs/{run_id}/metrics/{key}"} <= set(
        doc["paths"]
    )
    assert {"NewRun", "LogBatch", "EndRun", "Heartbeat"} <= set(doc["components"]["schemas"])


def test_client_cap_matches_the_search_cap() -> None:
    from loopml.client.search import MAX_LIMIT as CLIENT
    from loopml.tracking.search import MAX_LIMIT as SERVICE

    assert CLIENT == SERVICE


def _serve_on(settings: Settings, log: Path, port: int) -> ServerProcess:
    """``loopml server`` on a given port (to bring one back where its clients look for it)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [LOOPML_BIN, "server", "--port", str(port), "--no-controller"],
            env=store_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not _answers(f"{server.url}/api/v1/health"):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"loopml server did not start:\n{server.output()}")
        time.sleep(0.05)  # polling a port that is not open yet: nothing to wait on
    return server


def test_buffered_points_survive_a_server_restart(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    first = _serve_on(settings, tmp_path / "first.log", port)
    services = connect(load_settings(env={}, home=str(tmp_path / "c"), uri=first.url))
    second = None
    try:
        tracker = services.tracker
        run = tracker.start_run("exp")
        tracker.log_metric_batch(run.id, [("m", float(i), i) for i in range(10)])
        first.stop()
        with pytest.raises(StoreError, match="cannot reach"):
            tracker.flush()
        assert tracker.writer.pending() == 10  # kept for the next attempt
        second = _serve_on(settings, tmp_path / "second.log", port)
        tracker.flush()
        run.end()
        assert [p.step for p in services.runs.metric_history(run.id, "m")] == list(range(10))
    finally:
        services.close()
        first.stop()
        if second is not None:
            second.stop()


def test_values_sent_over_the_wire_round_trip() -> None:
    from loopml.api import codec
    from loopml.api.runs import Artifact, MetricColumns, MetricPoint, MetricSummary, NewRun, Run

    rid = uuid.uuid4().hex
    run = Run(
        id=rid, experiment="e", name="n", status=RunStatus.FAILED, start_time=1.25,
        end_time=2.5, created_by="me", code={"commit": "abc", "dirty": True},
        environment={"python": "3.11"}, error="Traceback…", params={"a": "1"},
        tags={"t": "x"}, metrics={"m": 0.1},
        metric_summaries={"m": MetricSummary("m", 0.1, 3, 2.0, 0.0, 1.0, 4)},
        inputs=("d@1",), artifacts=(Artifact("a/b.txt", 3, "f" * 64),), heartbeat_at=2.0,
        host="h", pid=7,
    )  # fmt: skip
    batch = LogBatch(
        params=(RunValues(rid, {"a": "1"}),),
        tags=(RunValues(rid, {"t": "ü"}),),
        points=MetricColumns((rid,), ("val/loss",), (2**62,), (1e9 + 0.123456,), (1 / 3,)),
    )
    new = NewRun(rid, "e", "n", 1.5, "me", {"x": [1, 2]}, {}, None, "h", 1, "s", {"p": "1"})
    values: list[tuple[object, object]] = [
        (run, Run),
        (batch, LogBatch),
        (new, NewRun),
        ([MetricPoint("m", 1, 2.5, 0.1)], list[MetricPoint]),
        ({rid: RunStatus.LOST}, dict[str, RunStatus]),
    ]
    for value, type_ in values:
        back = codec.decode(codec.encode(value), type_)  # type: ignore[arg-type]
        assert back == value
    back_run = codec.decode(codec.encode(run), Run)
    assert back_run.metric_summaries == run.metric_summaries  # not part of Run's equality
    assert back_run.status is RunStatus.FAILED
    assert b'"status":"failed"' in codec.encode(run)
