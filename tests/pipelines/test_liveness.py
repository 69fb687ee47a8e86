"""A pipeline run whose coordinator process is killed with SIGKILL does not stay running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from loopml.pipelines import StepStatus
from loopml.sdk import Client
from loopml.tracking import RunStatus as TrackedStatus
from tests.conftest import LOOPML_BIN
from tests.pipelines import files

STUCK = """
import time
from pathlib import Path

from loopml.pipelines import pipeline, step


@step
def first():
    return 1


@step
def stuck(x):
    print("stuck", flush=True)
    time.sleep(600)
    return x


@step
def last(x):
    return x


@pipeline
def stuck_pipeline():
    last(stuck(first()))
"""


def test_a_pipeline_run_whose_coordinator_was_killed_fails_with_its_steps(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    source = f"{files.write(tmp_path, 'stuck.py', STUCK)}:stuck_pipeline"
    proc = subprocess.Popen(
        [LOOPML_BIN, "pipeline", "run", source, "--no-cache"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers too, for cleaning up
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            found = client.pipelines.list_runs()
            if found and found[0].step("stuck").status is StepStatus.RUNNING:
                break
            assert proc.poll() is None, "the coordinator exited on its own"
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.05)
        run_id = found[0].id
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator only
        assert proc.wait(timeout=30) == -signal.SIGKILL
        # Reading never reaps: the run stays running until an explicit reap.
        assert client.pipelines.get_run(run_id).status.value == "running"
        assert client.pipelines.reap_orphans() == []  # its tracked run is not reaped yet
        assert [r.id for r in client.tracking.reap_stale()] == [run_id]
        assert client.pipelines.reap_orphans() == [run_id]
        assert client.pipelines.reap_orphans() == []  # once
        got = client.pipelines.get_run(run_id)
        assert got.status.value == "failed"
        assert got.error is not None and "coordinator process died" in got.error
        assert {s.name: s.status for s in got.steps} == {
            "first": StepStatus.SUCCEEDED,
            "stuck": StepStatus.FAILED,
            "last": StepStatus.FAILED,
        }
        tracked = client.tracking.get_run(run_id)
        assert tracked.status is TrackedStatus.LOST
        assert got.end_time == tracked.end_time
        assert [r.id for r in client.pipelines.list_runs()] == [run_id]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker still sleeping in `stuck`
        proc.wait(timeout=30)


FLAGGED = """
import time
from pathlib import Path

from loopml.pipelines import pipeline, step


@step
def wait_for_flag():
    print("waiting", flush=True)
    while not Path({flag!r}).exists():
        time.sleep(0.01)
    return 41


@pipeline
def flagged():
    wait_for_flag()
"""


def test_a_step_finishing_after_its_run_was_reaped_cannot_complete_it(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    from loopml.meta.lease import pid_alive

    flag = tmp_path / "go"
    source = f"{files.write(tmp_path, 'flagged.py', FLAGGED.format(flag=str(flag)))}:flagged"
    proc = subprocess.Popen(
        [LOOPML_BIN, "pipeline", "run", source, "--no-cache"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            found = client.pipelines.list_runs()
            if found and found[0].step("wait_for_flag").status is StepStatus.RUNNING:
                break
            assert proc.poll() is None, "the coordinator exited on its own"
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.05)
        run_id = found[0].id
        worker = found[0].step("wait_for_flag").worker
        assert worker is not None
        worker_pid = int(worker.rsplit(":", 1)[1])
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator: its lease expires at once
        assert proc.wait(timeout=30) == -signal.SIGKILL
        client.tracking.reap_stale()
        assert client.pipelines.reap_orphans() == [run_id]
        flag.touch()  # now the old worker finishes the step and tries to complete it
        deadline = time.monotonic() + 30
        while pid_alive(worker_pid):  # it exits once it cannot send its result
            assert time.monotonic() < deadline, "the worker never finished"
            time.sleep(0.02)
        got = client.pipelines.get_run(run_id).step("wait_for_flag")
        assert got.status is StepStatus.FAILED
        assert got.error is not None and "coordinator process died" in got.error
        assert got.outputs == ()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
