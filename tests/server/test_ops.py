"""Events, deployments, monitors, triggers, jobs, maintenance and pipeline runs over a real
server process: the long-poll answers as soon as an event is appended, the CLI works with only
``LOOPML_URI`` set, a remote worker runs a job under a lease held over HTTP, a webhook fires
once per key, and bad input is a JSON 4xx."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from loopml.api.events import EventKind
from loopml.api.triggers import JobLease, JobStatus, TriggerSpec
from loopml.connect import Services, connect
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.settings import Settings, load_settings
from tests.conftest import run_cli
from tests.plugins.server import ServerProcess

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def local(settings: Settings) -> Iterator[Services]:
    """The embedded services over the server's own stores (to set the scene)."""
    services = connect(settings)
    yield services
    services.close()


@pytest.fixture
def remote(server: ServerProcess, tmp_path: Path) -> Iterator[Services]:
    services = connect(load_settings(env={}, home=str(tmp_path / "c"), uri=server.url))
    yield services
    services.close()


def _push(local: Services, tmp_path: Path, name: str, text: str) -> None:
    folder = tmp_path / f"data-{name}-{text.encode().hex()}"
    folder.mkdir()
    (folder / "a.csv").write_text(text)
    local.datasets.push(name, folder)


def _register(local: Services) -> None:
    """Model m, versions 1 and 2 (accuracy 0.8 and 0.9)."""
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"a": [0.0, 1.0, 0.5, 0.2], "b": [1.0, 0.0, 0.5, 0.9]})
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    for acc in (0.8, 0.9):
        local.models.register("m", model, input_example=x[:2], metrics={"accuracy": acc})


def test_events_long_poll_answers_when_an_event_is_appended(
    server: ServerProcess, local: Services, remote: Services, tmp_path: Path
) -> None:
    start = remote.events.latest_cursor()
    assert start == local.events.latest_cursor()
    began = time.monotonic()
    assert remote.events.read_after(start, wait=0.3) == []  # nothing: waited, then empty
    assert time.monotonic() - began >= 0.3

    got: list[Any] = []
    asking = threading.Event()

    def wait_for_one() -> None:
        asking.set()
        got.extend(remote.events.read_after(start, kinds=["dataset.version_created"], wait=20))

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    assert asking.wait(10)
    # While one request waits in the server, others are answered (the wait is off the loop).
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/api/v1/health", timeout=5).status_code == 200
    appended = time.monotonic()
    _push(local, tmp_path, "ds", "x\n1\n")
    waiter.join(30)
    assert not waiter.is_alive()
    assert time.monotonic() - appended < 10  # well before the 20 s wait ran out
    assert [(e.kind, e.subject) for e in got] == [(EventKind.DATASET_VERSION_CREATED, "ds@1")]
    assert remote.events.read_after(got[-1].id) == []
    assert remote.events.latest_cursor() == got[-1].id


def test_many_long_polls_do_not_starve_other_routes(server: ServerProcess) -> None:
    """More waiting clients than the threadpool has threads (40): a plain route still answers
    while they wait, and each wait ends empty when its time is up."""
    import asyncio

    async def scene() -> tuple[float, list[int]]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(
            base_url=server.url + "/api/v1", limits=limits, timeout=30
        ) as http:
            latest = (await http.get("/events/latest")).json()["cursor"]
            waits = [
                asyncio.create_task(http.get("/events", params={"after": latest, "wait": 4}))
                for _ in range(60)
            ]
            await asyncio.sleep(0.5)  # no signal tells when the waits reached the server
            began = time.monotonic()
            listed = await http.get("/jobs")
            took = time.monotonic() - began
            assert listed.status_code == 200 and all(not w.done() for w in waits)
            answers = await asyncio.gather(*waits)
            return took, [len(a.json()["items"]) for a in answers]

    took, sizes = asyncio.run(scene())
    assert took < 2.0 and sizes == [0] * 60


def test_bad_input_is_a_json_4xx(server: ServerProcess, local: Services) -> None:
    local.triggers.add(TriggerSpec("deploy", "manual", "run_production", {"name": "m"}))
    with httpx.Client(base_url=server.url + "/api/v1") as http:
        for path, params in [
            ("/events", {"after": -1}),
            ("/events", {"kinds": "no.such"}),
            ("/events", {"limit": 0}),
            ("/jobs", {"status": "sleeping"}),
            ("/jobs/notanumber", {}),
            ("/triggers/nope", {}),
            ("/monitors/m@production", {}),
            ("/pipelines/runs/nope", {}),
            ("/events", {"after": 2**64}),
            (f"/jobs/{2**64}", {}),
        ]:
            answer = http.get(path, params=params)
            assert 400 <= answer.status_code < 500, (path, answer.text)
            assert answer.json()["error"], path
        hook = http.post("/triggers/deploy/webhook", json={"a": 1})
        assert hook.status_code == 422 and "not a webhook trigger" in hook.json()["error"]
        listed = http.post("/triggers/deploy/webhook", json=[1, 2])
        assert listed.status_code == 422
        claim = http.post("/jobs/claim", json={"lease": {"host": "h", "pid": 1}})
        assert claim.status_code == 422 and "lease" in claim.json()["error"]
        spec = http.post(
            "/triggers", json={"spec": {"name": "x", "on": "sometimes", "action": "a"}}
        )
        assert spec.status_code == 422
        deploy = http.post("/deployments/nope", json={"select": "best:accuracy"})
        assert deploy.status_code == 404
        for path, body in [
            ("/deployments/m", {"version": 2**64}),
            ("/triggers", {"spec": {"name": "y", "on": "manual", "action": "monitor",
                                    "params": {"deployment": "m@p"}, "retries": 2**64}}),
            ("/jobs/claim", {"lease": {"host": "h", "pid": 2**64, "scope": None, "token": "t"}}),
            ("/triggers/poll", {"wait": -1}),
        ]:  # fmt: skip
            answer = http.post(path, json=body)
            assert answer.status_code == 422, (path, answer.text)
    assert [t.name for t in local.triggers.list()] == ["deploy"]  # nothing else was written


def test_webhook_fires_once_per_key(server: ServerProcess, local: Services) -> None:
    local.triggers.add(
        TriggerSpec("hook", "webhook", "run_production", {"name": "m", "to": "{event.alias}"})
    )
    with httpx.Client(base_url=server.url + "/api/v1") as http:
        first = http.post("/triggers/hook/webhook", params={"key": "k1"}, json={"alias": "prod"})
        again = http.post("/triggers/hook/webhook", params={"key": "k1"}, json={"alias": "x"})
        header = http.post(
            "/triggers/hook/webhook", headers={"Idempotency-Key": "k2"}, json={"alias": "b"}
        )
        assert first.status_code == again.status_code == header.status_code == 201
        assert first.json()["id"] == again.json()["id"] != header.json()["id"]
        assert first.json()["event"]["alias"] == "prod"
        jobs = http.get("/jobs", params={"trigger": "hook"}).json()["items"]
    assert sorted(j["params"]["to"] for j in jobs) == ["b", "prod"]
    assert len(local.triggers.firings("hook")) == 2


def test_remote_worker_runs_a_job_under_a_lease_over_http(
    local: Services, remote: Services, tmp_path: Path
) -> None:
    _register(local)
    remote.triggers.add(
        TriggerSpec("deploy", "manual", "run_production", {"name": "m", "select": "best:accuracy"})
    )
    firing = remote.triggers.fire("deploy", key="k")
    assert remote.triggers.fire("deploy", key="k").id == firing.id
    done = remote.triggers.work()
    assert done is not None and done.status is JobStatus.SUCCEEDED, done
    assert done.result is not None and done.result["version"] == 2
    assert local.models.show("m@production").version == 2
    assert remote.triggers.work() is None  # nothing left
    # A lease the server did not give holds nothing; a cancelled job's lease is lost.
    remote.triggers.fire("deploy")
    lease = JobLease("elsewhere", 1, None, "t" * 32)
    claimed = remote.triggers.claim_job(lease, ["run_production"])
    assert claimed is not None and claimed.status is JobStatus.RUNNING
    assert remote.triggers.renew_job(claimed.id, lease)
    assert not remote.triggers.renew_job(claimed.id, JobLease("elsewhere", 1, None, "other"))
    remote.triggers.cancel_job(claimed.id)
    assert not remote.triggers.renew_job(claimed.id, lease)
    with pytest.raises(Conflict):
        remote.triggers.cancel_job(claimed.id)
    # A worker on this host that died (its pid is gone) loses its job to the next claim.
    import subprocess
    import sys

    from loopml.core.process import this_process

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    me = this_process()
    host, scope = me.host, me.scope
    remote.triggers.fire("deploy")
    dead = JobLease(host, gone.pid, scope, "d" * 32)
    taken = remote.triggers.claim_job(dead, ["run_production"])
    assert taken is not None
    again = remote.triggers.work()
    assert again is not None and again.id == taken.id
    assert again.status is JobStatus.SUCCEEDED and again.attempts == 2
    assert not remote.triggers.renew_job(taken.id, dead)
    # Pipeline jobs run here too, recorded through the server.
    source = tmp_path / "cheap.py"
    source.write_text(CHEAP)
    remote.triggers.add(TriggerSpec("train", "manual", f"{source}:training", {"dataset": "j"}))
    queued = remote.triggers.fire("train")
    ran = remote.triggers.work()
    assert ran is not None and ran.id == queued.job_id and ran.status is JobStatus.SUCCEEDED
    recorded = local.pipelines.get_run(ran.run_id or "")
    assert recorded.status.value == "succeeded" and recorded.step("echo").stdout == "echo j\n"


def test_remote_deployments_monitors_maintenance_and_pipeline_runs(
    local: Services, remote: Services
) -> None:
    _register(local)
    version, gate = remote.deployments.check("m", select="best:accuracy")
    assert version.version == 2 and gate.passed
    first = remote.deployments.deploy("m", version=1)
    second = remote.deployments.deploy("m", select="best:accuracy", gate="accuracy >= production")
    assert (first.version, second.version, second.previous_version) == (1, 2, 1)
    back = remote.deployments.rollback("m")
    assert back.version == 1 and local.models.show("m@production").version == 1
    history = remote.deployments.history("m")
    assert [d.id for d in history] == [d.id for d in local.deployments.history("m")]
    assert len(remote.deployments.history("m", limit=2)) == 2
    with pytest.raises(NotFound):
        remote.deployments.rollback("m", to="nowhere")

    spec = remote.monitoring.add("m@production", reference="traffic:24h", rules=["rows < 1"])
    assert remote.monitoring.get("m@production") == spec
    assert remote.monitoring.list() == [spec]
    with pytest.raises(Conflict):
        remote.monitoring.add("m@production", reference="traffic:24h")
    result = remote.monitoring.run("m@production", window="1h")
    assert result.id > 0 and result.status == "no_traffic"
    assert [r.id for r in remote.monitoring.results("m@production")] == [result.id]
    assert remote.monitoring.remove("m@production") == 1
    with pytest.raises(NotFound):
        remote.monitoring.get("m@production")

    summary = remote.maintenance.fsck()
    assert summary.ok and summary.chunks > 0
    assert remote.maintenance.gc(dry_run=True).files_removed >= 0
    assert remote.maintenance.reap_runs() == [] and remote.maintenance.reap_pipelines() == []

    assert remote.pipelines.list_runs() == []
    with pytest.raises(InvalidInput, match="not a pipeline run id"):
        remote.pipelines.get_run("nope")
    with pytest.raises(InvalidInput):
        remote.events.read_after(-1)


def _cli(env: dict[str, str], *args: str) -> Any:
    done = run_cli(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


def test_remote_cli_triggers_and_jobs(
    remote_env: dict[str, str], local: Services, tmp_path: Path
) -> None:
    _register(local)
    _push(local, tmp_path, "ds", "x\n1\n")
    env = remote_env
    added = _cli(
        env, "trigger", "add", "deploy", "--on", "manual", "--run", "run_production",
        "-p", "name=m", "-p", "select=best:accuracy",
    )  # fmt: skip
    assert added["spec"]["name"] == "deploy"
    _cli(env, "trigger", "add", "on-data", "--on", "dataset:ds", "--run", "run_production",
         "-p", "name=m", "--disabled")  # fmt: skip
    assert [t["spec"]["name"] for t in _cli(env, "trigger", "list")] == ["deploy", "on-data"]
    assert _cli(env, "trigger", "enable", "on-data")["enabled"] is True
    _cli(env, "trigger", "fire", "deploy", "--key", "once")
    _cli(env, "trigger", "fire", "deploy", "--key", "once")
    jobs = _cli(env, "jobs", "list")
    assert len(jobs) == 1 and jobs[0]["status"] == "queued"
    assert _cli(env, "worker", "--once")["jobs"][0]["status"] == "succeeded"
    assert _cli(env, "jobs", "show", str(jobs[0]["id"]))["status"] == "succeeded"
    _push(local, tmp_path, "ds", "x\n2\n")  # a dataset event: the controller fires on-data
    assert _cli(env, "controller", "--once")["fired"] == 1
    queued = _cli(env, "jobs", "list", "--trigger", "on-data", "--status", "queued")
    assert _cli(env, "jobs", "cancel", str(queued[0]["id"]))["status"] == "cancelled"
    assert _cli(env, "trigger", "remove", "on-data")["removed"] == "on-data"
    bad = run_cli(env, "jobs", "show", "999")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "999" in bad.stderr


def test_remote_cli_deployments_and_monitors(remote_env: dict[str, str], local: Services) -> None:
    _register(local)
    env = remote_env
    assert _cli(env, "deploy", "m", "--version", "1")["version"] == 1
    _cli(env, "deploy", "m", "--select", "best:accuracy")
    assert [d["version"] for d in _cli(env, "deployments", "history", "m")] == [2, 1]
    assert _cli(env, "rollback", "m")["version"] == 1
    assert local.models.show("m@production").version == 1
    assert _cli(env, "monitor", "list") == []
    assert _cli(env, "pipeline", "list") == []
    assert _cli(env, "fsck")["ok"] is True
    cleaned = _cli(env, "gc")
    assert cleaned["runs_lost"] == [] and cleaned["pipelines_failed"] == []
    refused = run_cli(env, "pipeline", "run", "training.py:training")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "'training.py' does not exist" in refused.stderr


CHEAP = """
from loopml.pipelines import pipeline, step


@step
def echo(dataset: str) -> str:
    print("echo", dataset)
    return dataset


@pipeline
def training(dataset: str = "none"):
    echo(dataset)
"""


def test_pipeline_runs_read_through_the_server(
    local: Services, remote: Services, tmp_path: Path
) -> None:
    source = tmp_path / "cheap.py"
    source.write_text(CHEAP)
    made = local.pipelines.run(f"{source}:training", {"dataset": "d1"})
    assert made.status.value == "succeeded"
    stored = local.pipelines.get_run(made.id)
    assert remote.pipelines.get_run(made.id) == stored
    assert remote.pipelines.get_run(made.id[:12]).steps == stored.steps
    assert [r.id for r in remote.pipelines.list_runs()] == [made.id]
    assert remote.pipelines.list_runs(pipeline="nope") == []
    log = remote.pipelines.step_log(made.id, "echo")  # type: ignore[attr-defined]
    assert "echo d1" in (log["stdout"] or "")
    with pytest.raises(NotFound, match="no step"):
        remote.pipelines.step_log(made.id, "nope")  # type: ignore[attr-defined]
