"""The Ray executor against a real Ray head on 127.0.0.1, started as the README says: steps run
as Ray tasks in Ray worker processes, with their resource requests, and artifacts pass through
the shared stores. An address where no head answers fails fast."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInput
from loopml.core.settings import Settings, load_settings
from loopml.pipelines.executor_ray import check_stores
from loopml.sdk import Client
from tests.conftest import run_cli
from tests.pipelines import files
from tests.plugins.ray import RayHead
from tests.plugins.server import ServerProcess

# One Ray head per test process: under pytest-xdist these tests share one worker.
pytestmark = pytest.mark.xdist_group("ray")

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


def test_a_run_through_a_server_runs_its_steps_on_ray_and_records_them_there(
    settings: Settings, server: ServerProcess, tmp_path: Path, ray_address: str
) -> None:
    path = files.write(tmp_path, "ray_flow.py", RAY_PIPELINE)
    remote = Client(load_settings(env={}, home=str(tmp_path / "c"), uri=server.url))
    try:
        run = remote.pipelines.run(f"{path}:fan", executor="ray", ray_address=ray_address)
        assert run.executor == "ray" and run.status.value == "failed"
        assert run.step("gather").status.value == "succeeded"
        assert run.step("fail").status.value == "failed"
        assert remote.pipelines.load_output(run.id, "gather") == [7, 8]
    finally:
        remote.close()
    local = Client(settings)  # what the server stored
    try:
        assert local.pipelines.load_output(run.id, "make")["task"] is not None
        assert local.tracking.get_run(run.id).metrics == {"sum_1": 7.0, "sum_2": 8.0}
    finally:
        local.close()


def test_the_readme_ray_steps_run_a_pipeline_on_one_machine(
    client: Client, env: dict[str, str], tmp_path: Path, ray_head: RayHead
) -> None:
    path = files.write(tmp_path, "ray_flow.py", RAY_PIPELINE)
    argv = [f"{path}:fan" if a.endswith(".py:training") else a for a in ray_head.steps.run]
    assert argv[:3] == ["loopml", "pipeline", "run"] and "--executor" in argv
    driver_env = {k: v for k, v in env.items() if not k.startswith("RAY_")}  # nothing set
    started = time.monotonic()
    proc = run_cli(driver_env, *argv[1:], cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stderr  # the pipeline's `fail` step fails, on purpose
    assert "nodes on other machines" not in proc.stderr
    (run,) = client.pipelines.list_runs("fan", 5)
    run = client.pipelines.get_run(run.id)
    assert run.executor == "ray"
    assert {s.name: s.status.value for s in run.steps} == {
        "make": "succeeded",
        "add": "succeeded",
        "add_2": "succeeded",
        "gather": "succeeded",
        "fail": "failed",
    }
    made = client.pipelines.load_output(run.id, "make")
    assert made["task"] is not None
    assert client.pipelines.load_output(run.id, "gather") == [7, 8]
    assert time.monotonic() - started < 300


def _closed_port() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"127.0.0.1:{port}"


def _silent_listener() -> Iterator[str]:
    """Accepts connections (the kernel completes them) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"localhost:{sock.getsockname()[1]}"


def _http1_server() -> Iterator[str]:
    """Answers every connection like an HTTP/1.1 server that is not Ray."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@pytest.mark.parametrize(
    ("make_address", "why"),
    [
        (_closed_port, "no Ray cluster answers at"),
        (_silent_listener, "no Ray cluster answers at"),
        (_http1_server, "answers, but not as a Ray cluster"),
    ],
)
def test_an_address_where_no_ray_cluster_answers_fails_fast(
    tmp_path: Path,
    make_address: Callable[[], Iterator[str]],
    why: str,
) -> None:
    pytest.importorskip("ray")
    path = files.write(tmp_path, "ray_flow.py", RAY_PIPELINE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "RAY_"))}
    env["LOOPML_HOME"] = str(tmp_path / "home")
    gen = make_address()
    address = next(gen)
    try:
        started = time.monotonic()
        proc = run_cli(
            env, "pipeline", "run", f"{path}:fan", "--executor", "ray", "--ray-address", address,
            timeout=60,
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        gen.close()
    assert proc.returncode == 1, proc.stderr
    assert f"{why} {address}" in proc.stderr or f"{address} {why}" in proc.stderr, proc.stderr
    assert "ray start --head --node-ip-address=127.0.0.1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert took < 30, f"took {took:.1f}s"
    after = Client(load_settings(env={}, home=str(tmp_path / "home")))
    try:
        assert after.pipelines.list_runs(None, 5) == []  # nothing recorded for a run never started
    finally:
        after.close()


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


def _routed_address() -> str | None:
    """The address this machine would send from (Ray's default node address), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address: str = sock.getsockname()[0]
        return address


def test_nodes_on_this_machine_are_never_other_machines(tmp_path: Path) -> None:
    sqlite = load_settings(env={}, home=str(tmp_path))
    local = ["127.0.0.1", "127.0.1.1", "::1", "localhost", socket.gethostname()]
    routed = _routed_address()
    if routed is not None:
        local.append(routed)  # an interface of this machine that its host name may not name
    for host in local:
        assert check_stores(sqlite, {host}) == [], host
    # whatever Ray reports for the driver's own node is this machine
    assert check_stores(sqlite, {"10.1.2.3"}, own=frozenset({"10.1.2.3"})) == []
    if routed is not None:  # a database on this machine's network address is reachable
        pg = load_settings(env={}, home=str(tmp_path), db=f"postgresql://u@{routed}/db")
        assert "shared folder" in check_stores(pg, {"10.1.2.3"})[0]
    for other in ("10.1.2.3", "203.0.113.9", "db.example.internal"):
        with pytest.raises(InvalidInput, match="cannot reach the SQLite database"):
            check_stores(sqlite, {"127.0.0.1", other}, own=frozenset({"127.0.0.1"}))
