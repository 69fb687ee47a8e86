"""Controllers and workers as separate processes over SQLite and PostgreSQL: 3 controllers and
3 workers, 200 events over 10 triggers, one worker SIGKILLed halfway: every firing recorded
once, every job run to success once. And a controller killed between reading the events and
committing its firings: nothing lost, nothing doubled."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.api.triggers import JobStatus, TriggerSpec
from loopml.meta.tables import event_cursors, firings, jobs
from loopml.sdk import Client
from tests.conftest import LOOPML_BIN
from tests.triggers.conftest import append_dataset_events, make_datasets

EVENTS = 200
TRIGGERS = 10


class Fleet:
    """Processes started in their own session, each ended with its whole group by pid."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [LOOPML_BIN, *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its step workers
        proc.wait(timeout=30)

    def close(self) -> None:
        for proc in self.procs:
            self.kill(proc)


@pytest.fixture
def fleet(env: dict[str, str]) -> Iterator[Fleet]:
    f = Fleet(env)
    try:
        yield f
    finally:
        f.close()


def _count(client: Client, query: sa.Select[tuple[int]]) -> int:
    with client.stores.meta.read() as conn:
        return int(conn.execute(query).scalar_one())


def _succeeded(client: Client) -> int:
    q = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status == "succeeded")
    return _count(client, q)


def _wait_for(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pause = 0.02
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _setup(client: Client, tmp_path: Path, pipeline_file: Path) -> list[str]:
    names = [f"d{i}" for i in range(TRIGGERS)]
    make_datasets(client, tmp_path, names)
    for name in names:
        client.services.triggers.add(
            TriggerSpec(
                f"t-{name}",
                f"dataset:{name}",
                f"{pipeline_file}:training",
                {"dataset": "{event.ref}"},
            )
        )
    return names


def test_three_controllers_and_three_workers_fire_and_run_each_event_once_despite_a_kill(
    client: Client, fleet: Fleet, tmp_path: Path, pipeline_file: Path
) -> None:
    names = _setup(client, tmp_path, pipeline_file)
    for _ in range(3):
        fleet.start("controller")
    workers = [fleet.start("worker") for _ in range(3)]
    append_dataset_events(client, [(names[i % TRIGGERS], 100 + i) for i in range(EVENTS)])
    _wait_for(lambda: _succeeded(client) >= EVENTS // 2, 60)
    fleet.kill(workers[0])  # SIGKILL, most likely in the middle of a job
    _wait_for(lambda: _succeeded(client) == EVENTS, 60)

    done = client.services.triggers.jobs(limit=1000)
    assert len(done) == EVENTS
    assert all(j.status == JobStatus.SUCCEEDED for j in done)
    assert sorted(j.params["dataset"] for j in done) == sorted(
        f"{names[i % TRIGGERS]}@{100 + i}" for i in range(EVENTS)
    )
    with client.stores.meta.read() as conn:
        keys = conn.execute(sa.select(firings.c.trigger_id, firings.c.event_key)).all()
    assert len(keys) == len(set(keys)) == EVENTS
    runs = {j.run_id for j in done}
    assert len(runs) == EVENTS
    for run_id in list(runs)[:5]:
        assert client.pipelines.get_run(str(run_id)).status.value == "succeeded"


KILLED_CONTROLLER = """
import os, signal, sys
import sqlalchemy as sa
from loopml.connect import connect

services = connect()
engine = services.stores.meta.engine

def die(conn, cursor, statement, parameters, context, executemany):
    # the firings are written, the cursor not yet moved, nothing committed
    if statement.lstrip().upper().startswith("INSERT INTO FIRINGS") or "INSERT INTO firings" in statement:
        os.kill(os.getpid(), signal.SIGKILL)

sa.event.listen(engine, "after_cursor_execute", die)
services.triggers.poll()
sys.exit(3)  # not reached
"""


def test_a_controller_killed_between_reading_and_committing_loses_and_doubles_nothing(
    client: Client, env: dict[str, str], tmp_path: Path, pipeline_file: Path
) -> None:
    names = _setup(client, tmp_path, pipeline_file)
    append_dataset_events(client, [(names[i % TRIGGERS], 100 + i) for i in range(20)])
    script = tmp_path / "die.py"
    script.write_text(textwrap.dedent(KILLED_CONTROLLER))
    died = subprocess.run([sys.executable, str(script)], env=env, timeout=120, check=False)
    assert died.returncode == -signal.SIGKILL
    assert _count(client, sa.select(sa.func.count()).select_from(firings)) == 0
    with client.stores.meta.read() as conn:
        assert conn.execute(sa.select(event_cursors.c.cursor)).scalar() in (None, 0)
    assert client.services.triggers.poll() == 20
    assert client.services.triggers.poll() == 0
    assert _count(client, sa.select(sa.func.count()).select_from(jobs)) == 20


BLOCKING = """
import time
from pathlib import Path

from loopml.pipelines import pipeline, step


@step
def slow(flag: str) -> str:
    marker = Path(flag)
    if not marker.exists():  # the first attempt blocks until its worker is killed
        marker.write_text("started")
        time.sleep(120)
    return flag


@pipeline
def blocking(flag: str = ""):
    slow(flag)
"""


def test_a_job_whose_worker_was_killed_mid_run_runs_again_and_succeeds_once(
    client: Client, fleet: Fleet, tmp_path: Path
) -> None:
    source = tmp_path / "blocking.py"
    source.write_text(textwrap.dedent(BLOCKING))
    marker = tmp_path / "marker"
    triggers = client.services.triggers
    triggers.add(
        TriggerSpec("slow", "manual", f"{source}:blocking", {"flag": str(marker)}, retries=0)
    )
    fired = triggers.fire("slow")
    victim = fleet.start("worker")
    _wait_for(marker.exists, 60)
    job = triggers.job(int(fired.job_id or 0))
    assert (
        job.status == JobStatus.RUNNING
        and job.worker == f"pid {victim.pid} on {os.uname().nodename}"
    )
    fleet.kill(victim)
    rescuer = fleet.start("worker", "--once")
    assert rescuer.wait(timeout=120) == 0
    job = triggers.job(job.id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert client.pipelines.get_run(str(job.run_id)).status.value == "succeeded"
    assert len(triggers.firings("slow")) == 1
