"""Cancelling a running job stops its pipeline: the running step's process is killed, the
pipeline run ends failed as cancelled, and the worker records nothing over the cancel."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import pytest

from loopml.api.triggers import Job, JobStatus, TriggerSpec
from loopml.sdk import Client

pytestmark = pytest.mark.timeout(120)

SLOW = """
import os
import time
from pathlib import Path

from loopml.pipelines import pipeline, step


@step
def wait_for_flag(folder: str) -> str:
    Path(folder, "pid").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(folder, "flag").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return "done"


@pipeline
def slow(folder: str = "."):
    wait_for_flag(folder)
"""


def _until(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cancel_stops_a_running_pipeline_job(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "slow.py"
    source.write_text(textwrap.dedent(SLOW))
    folder = tmp_path / "signals"
    folder.mkdir()
    triggers = client.services.triggers
    triggers.add(TriggerSpec("slow", "manual", f"{source}:slow", {"folder": str(folder)}))
    firing = triggers.fire("slow")
    done: list[Job | None] = []
    worker = threading.Thread(target=lambda: done.append(triggers.work()), daemon=True)
    worker.start()
    _until(lambda: (folder / "pid").exists(), "the step to start")
    step_pid = int((folder / "pid").read_text())
    assert triggers.job(firing.job_id).status == JobStatus.RUNNING  # type: ignore[arg-type]

    cancelled = triggers.cancel_job(firing.job_id)  # type: ignore[arg-type]
    assert cancelled.status == JobStatus.CANCELLED
    worker.join(timeout=30)
    assert not worker.is_alive(), "the worker did not stop the cancelled job"
    _until(lambda: not _alive(step_pid), "the step process to end", timeout=10)
    assert not (folder / "flag").exists()

    job = triggers.job(firing.job_id)  # type: ignore[arg-type]
    assert job.status == JobStatus.CANCELLED  # the worker wrote nothing over the cancel
    assert done and done[0] is not None and done[0].status == JobStatus.CANCELLED
    runs = client.pipelines.list_runs()
    assert len(runs) == 1
    assert runs[0].status.value == "failed"
    assert runs[0].error == "cancelled"
    assert [s.status.value for s in runs[0].steps] == ["failed"]
    assert triggers.work() is None  # nothing was requeued
