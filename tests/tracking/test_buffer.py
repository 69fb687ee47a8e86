"""Buffered metric writing: flush acknowledges, the background thread commits, exit and
exceptions lose nothing, a failed write keeps its points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.api.runs import LogBatch, RunStatus
from loopml.core.errors import StoreError
from loopml.meta.tables import metrics
from loopml.sdk import Client
from loopml.tracker.buffer import Writer
from tests.tracking.conftest import another_tracker


def _stored_points(client: Client, run_id: str) -> int:
    with client.stores.meta.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(metrics).where(metrics.c.run_id == run_id)
            ).scalar_one()
        )


def test_background_thread_commits_without_an_explicit_flush(client: Client) -> None:
    service = another_tracker(client, flush_interval_s=0.05)
    try:
        run = service.start_run(experiment="e")
        run.log_metric("loss", 0.5)
        deadline = time.monotonic() + 10
        while _stored_points(client, run.id) == 0:
            assert time.monotonic() < deadline, "the flusher never wrote the point"
            time.sleep(0.02)
        assert service.writer.pending() == 0
        run.end()
    finally:
        service.close()


def test_a_full_buffer_is_written_by_the_producer(client: Client) -> None:
    writer = Writer(client.services.runs, interval_s=60, batch_points=10, max_pending=50)
    run = client.tracking.start_run(experiment="e")
    run.flush()  # the run exists for this second writer
    try:
        for i in range(1000):
            writer.add(run.id, "x", float(i), i, 1.0)
            assert writer.pending() < 50
        writer.flush()
        assert _stored_points(client, run.id) == 1000
    finally:
        writer.close()
        run.end()


class FlakyRuns:
    """The runs service, whose next ``failures`` batches fail as a busy database would."""

    def __init__(self, runs: Any) -> None:
        self.runs = runs
        self.failures = 0

    def log_batch(self, batch: LogBatch) -> tuple[str, ...]:
        if self.failures:
            self.failures -= 1
            raise StoreError("database is locked (simulated)")
        return self.runs.log_batch(batch)  # type: ignore[no-any-return]

    def heartbeat(self, run_ids: tuple[str, ...]) -> Any:
        return self.runs.heartbeat(run_ids)


def test_a_failed_write_keeps_its_points_for_the_next_flush(client: Client) -> None:
    run = client.tracking.start_run(experiment="e")
    run.flush()
    flaky = FlakyRuns(client.services.runs)
    writer = Writer(flaky, interval_s=60)  # type: ignore[arg-type]
    try:
        for i in range(100):
            writer.add(run.id, "loss", float(i), None, time.time())
        flaky.failures = 1
        with pytest.raises(StoreError, match="simulated"):
            writer.flush()
        assert writer.pending() == 100
        writer.add(run.id, "loss", 100.0, None, time.time())
        writer.flush()
        assert writer.pending() == 0
        steps = [p.step for p in client.tracking.metric_history(run.id, "loss")]
        assert steps == list(range(101))  # each point once, in order
    finally:
        writer.close()
        run.end()


def _run_script(env: dict[str, str], body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_normal_exit_flushes_and_finishes_an_open_run(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    out = _run_script(
        env,
        """
        import loopml
        run = loopml.start_run(experiment="exit", name="open")
        for i in range(3000):
            loopml.log_metric("loss", 1.0 / (i + 1))
        print(run.id)
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    got = client.tracking.get_run(out.stdout.strip())
    assert got.status is RunStatus.FINISHED
    assert got.metric_summaries["loss"].count == 3000


def test_uncaught_exception_flushes_and_fails_an_open_run(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    out = _run_script(
        env,
        """
        import loopml
        run = loopml.start_run(experiment="exit", name="crash")
        loopml.log_metric("loss", 0.25)
        print(run.id, flush=True)
        raise ValueError("training diverged")
        """,
        tmp_path,
    )
    assert out.returncode == 1
    assert "training diverged" in out.stderr
    got = client.tracking.get_run(out.stdout.strip())
    assert got.status is RunStatus.FAILED
    assert got.error is not None and "ValueError: training diverged" in got.error
    assert got.metrics == {"loss": 0.25}


def test_exception_inside_with_block_in_a_process_flushes_everything(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    out = _run_script(
        env,
        """
        import loopml
        with loopml.start_run(experiment="exit") as run:
            print(run.id, flush=True)
            for i in range(1000):
                loopml.log_metric("loss", float(i))
            raise KeyboardInterrupt
        """,
        tmp_path,
    )
    assert out.returncode != 0
    got = client.tracking.get_run(out.stdout.strip())
    assert got.status is RunStatus.KILLED
    assert got.metric_summaries["loss"].count == 1000


def test_background_thread_writes_a_new_run_without_a_flush(client: Client) -> None:
    service = another_tracker(client, flush_interval_s=0.05)
    other = Client(client.settings)
    try:
        run = service.start_run(experiment="e")
        deadline = time.monotonic() + 10
        while not (_has_experiment(other, "e") and other.tracking.search_runs("e")):
            assert time.monotonic() < deadline, "the flusher never wrote the run"
            time.sleep(0.02)
        assert other.tracking.get_run(run.id).status is RunStatus.RUNNING
        run.end()
    finally:
        other.close()
        service.close()


def _has_experiment(client: Client, name: str) -> bool:
    return name in {e.name for e in client.tracking.list_experiments()}
