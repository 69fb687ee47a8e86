"""Run liveness: a run is written at start and keeps a heartbeat; runs whose process died are
ended as lost, SIGTERM ends a run as killed and still kills the process."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.api.runs import RunStatus
from loopml.core.errors import Conflict, InvalidInput
from loopml.core.settings import load_settings
from loopml.meta.tables import events, runs
from loopml.sdk import Client
from tests.conftest import run_cli
from tests.tracking.conftest import another_tracker

DEADLINE_S = 20.0

# A training script that holds a run open until its stdin closes (or it is killed).
HOLDER = """
import sys
import loopml

with loopml.start_run(experiment="live", name="holder") as run:
    loopml.log_metric("loss", 0.5)
    loopml.flush()
    print(run.id, flush=True)
    sys.stdin.read()
"""


def _wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextlib.contextmanager
def _holder(env: dict[str, str], tmp_path: Path, body: str = HOLDER) -> Iterator[Any]:
    """A child process holding an open run; yields (process, run id)."""
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(body))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # printed once the run is stored
        assert line, proc.stderr.read() if proc.stderr else "no run id"
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _row(client: Client, run_id: str) -> Any:
    with client.stores.meta.read() as conn:
        return conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()


def _event_kinds(client: Client, run_id: str) -> list[str]:
    with client.stores.meta.read() as conn:
        q = sa.select(events.c.kind).where(events.c.subject == run_id).order_by(events.c.id)
        return list(conn.execute(q).scalars())


def _client_with(client: Client, **changes: float) -> Client:
    return Client(dataclasses.replace(client.settings, **changes))


# ---------- written at start, with its owner ----------
def test_a_run_is_stored_with_its_owner_as_soon_as_start_run_returns(client: Client) -> None:
    import os
    import socket

    run = client.tracking.start_run(experiment="e", params={"lr": 0.1})
    other = Client(client.settings)
    try:
        got = other.tracking.get_run(run.id)  # no flush: start_run wrote it
        assert got.status is RunStatus.RUNNING and got.params == {"lr": "0.1"}
        assert (got.host, got.pid) == (socket.gethostname(), os.getpid())
        assert got.heartbeat_at is not None and abs(got.heartbeat_at - got.start_time) < 60
        assert got.to_dict()["pid"] == os.getpid()
    finally:
        other.close()
        run.end()


def test_an_open_run_refreshes_its_heartbeat(client: Client) -> None:
    fast = _client_with(client, heartbeat_s=0.05)
    try:
        run = fast.tracking.start_run(experiment="e")
        first = _row(client, run.id).heartbeat_at
        _wait_for(lambda: _row(client, run.id).heartbeat_at > first, "a second heartbeat")
        run.end()
        ended = _row(client, run.id).heartbeat_at
        time.sleep(0.2)  # four heartbeat intervals: an ended run is no longer refreshed
        assert _row(client, run.id).heartbeat_at == ended
    finally:
        fast.close()


# ---------- kill -9: reaped as soon as the pid is gone ----------
def test_a_run_whose_process_was_killed_with_sigkill_is_reaped_as_lost(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    with _holder(env, tmp_path) as (proc, run_id):
        assert client.tracking.get_run(run_id).status is RunStatus.RUNNING  # alive: untouched
        assert client.tracking.reap_stale() == []
        proc.kill()
        proc.wait(timeout=30)
    # Same host and pid table, pid gone: no need to wait for the heartbeat timeout.
    assert client.tracking.get_run(run_id).status is RunStatus.RUNNING  # reading never reaps
    [lost] = client.tracking.reap_stale()
    assert lost.id == run_id
    got = client.tracking.get_run(run_id)
    assert got.status is RunStatus.LOST
    assert got.error is not None and f"pid {proc.pid}" in got.error and "gone" in got.error
    assert got.end_time == _row(client, run_id).heartbeat_at  # its last sign of life
    assert got.metrics == {"loss": 0.5}
    assert _event_kinds(client, run_id) == ["run.started", "run.lost"]
    assert client.tracking.reap_stale() == []  # once


def _table_counts(client: Client) -> dict[str, Any]:
    """Every row of the tables a reap would change, to compare before and after a read."""
    with client.stores.meta.read() as conn:
        return {
            "runs": conn.execute(sa.select(runs).order_by(runs.c.id)).all(),
            "events": conn.execute(sa.select(events).order_by(events.c.id)).all(),
        }


def test_listing_searching_and_showing_runs_never_write_not_even_to_reap(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    with _holder(env, tmp_path) as (proc, run_id):
        proc.kill()
        proc.wait(timeout=30)
    before = _table_counts(client)
    for reader in (Client(client.settings), client):
        try:
            assert reader.tracking.search_runs("live", "attributes.status = 'lost'") == []
            assert [r.status for r in reader.tracking.list_runs("live")] == [RunStatus.RUNNING]
            assert reader.tracking.get_run(run_id).status is RunStatus.RUNNING
            assert reader.pipelines.list_runs() == []
        finally:
            if reader is not client:
                reader.close()
    assert _table_counts(client) == before  # a dead run, and still not a row changed
    assert [r.id for r in client.tracking.reap_stale()] == [run_id]
    [found] = client.tracking.search_runs("live", "attributes.status = 'lost'")
    assert found.id == run_id


# ---------- SIGTERM: killed, and the process still dies of the signal ----------
def test_sigterm_ends_the_run_as_killed_and_the_process_dies_of_it(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    with _holder(env, tmp_path) as (proc, run_id):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    got = client.tracking.get_run(run_id)
    assert got.status is RunStatus.KILLED
    assert got.error is not None and "SIGTERM" in got.error
    assert got.metrics == {"loss": 0.5}
    assert _event_kinds(client, run_id) == ["run.started", "run.killed"]


def test_sigterm_commits_metrics_that_were_still_buffered(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    body = """
    import sys
    import loopml

    run = loopml.start_run(experiment="live", name="buffered")
    for i in range(1000):
        loopml.log_metric("loss", 1.0 / (i + 1))  # buffered, not flushed
    print(run.id, flush=True)
    sys.stdin.read()
    """
    with _holder(env, tmp_path, body) as (proc, run_id):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    got = client.tracking.get_run(run_id)
    assert got.status is RunStatus.KILLED
    assert got.metric_summaries["loss"].count == 1000


def test_an_application_sigterm_handler_is_left_in_place(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    body = """
    import signal, sys
    import loopml

    def on_term(signum, frame):
        print("app handler", flush=True)
        sys.exit(3)

    signal.signal(signal.SIGTERM, on_term)
    with loopml.start_run(experiment="live", name="app") as run:
        assert signal.getsignal(signal.SIGTERM) is on_term
        print(run.id, flush=True)
        sys.stdin.read()
    """
    with _holder(env, tmp_path, body) as (proc, run_id):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 3
        assert proc.stdout is not None and "app handler" in proc.stdout.read()
    got = client.tracking.get_run(run_id)
    assert got.status is RunStatus.FAILED  # SystemExit(3) left the with block
    assert got.error is not None and "SystemExit: 3" in got.error


def test_a_run_started_in_a_thread_installs_no_handler(client: Client) -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[Any] = []
    tracking = client.tracking  # stores opened here: the blob hash cache is per thread

    def start() -> None:
        with tracking.start_run(experiment="e"):
            seen.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=start)
    t.start()
    t.join()
    assert seen == [before]


# ---------- another host: reaped once its heartbeat is older than the timeout ----------
def _as_if_from_another_host(client: Client, run_id: str) -> None:
    with client.stores.meta.write() as conn:
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(host="gpu-node-7", pid=4242, pid_scope="another-machine")
        )


def test_a_stale_heartbeat_from_another_host_is_reaped_after_the_timeout(
    client: Client,
) -> None:
    owner = another_tracker(client)  # its process "leaves": no more heartbeats
    run = owner.start_run(experiment="e", name="remote")
    owner.close()
    _as_if_from_another_host(client, run.id)
    assert client.tracking.reap_stale() == []  # 30 s timeout: its heartbeat is recent
    assert client.tracking.get_run(run.id).status is RunStatus.RUNNING
    impatient = _client_with(client, heartbeat_timeout_s=0.2)
    try:
        lost = _wait_for(impatient.tracking.reap_stale, "the stale run to be reaped")
        assert [r.id for r in lost] == [run.id]
        assert "no heartbeat" in lost[0].reason and "gpu-node-7" in lost[0].reason
        assert lost[0].to_dict()["id"] == run.id
        got = impatient.tracking.get_run(run.id)
        assert got.status is RunStatus.LOST
        assert got.end_time == _row(client, run.id).heartbeat_at
    finally:
        impatient.close()


def test_a_live_heartbeat_keeps_a_remote_run_from_being_reaped(client: Client) -> None:
    owner = _client_with(client, heartbeat_s=0.05)
    reaper = _client_with(client, heartbeat_timeout_s=1.5)
    try:
        run = owner.tracking.start_run(experiment="e")
        _as_if_from_another_host(client, run.id)
        first = _row(client, run.id).heartbeat_at
        # Well past the timeout since the first heartbeat: only later ones keep it alive.
        _wait_for(lambda: _row(client, run.id).heartbeat_at > first + 2.0, "heartbeats")
        assert reaper.tracking.reap_stale() == []
        run.end()
        assert reaper.tracking.get_run(run.id).status is RunStatus.FINISHED
    finally:
        owner.close()
        reaper.close()


def test_a_run_reaped_while_its_process_lives_ends_there_with_a_conflict(
    client: Client,
) -> None:
    run = client.tracking.start_run(experiment="e")
    _as_if_from_another_host(client, run.id)
    reaper = _client_with(client, heartbeat_timeout_s=0.05)
    try:
        _wait_for(reaper.tracking.reap_stale, "the run to be reaped")
    finally:
        reaper.close()
    with pytest.raises(Conflict, match="already ended as lost"):
        run.end()
    assert run.ended and run.status is RunStatus.LOST
    assert client.tracking.get_run(run.id).status is RunStatus.LOST


# ---------- settings ----------
def test_heartbeat_settings_come_from_the_environment() -> None:
    s = load_settings(env={"LOOPML_HEARTBEAT_S": "2"})
    assert (s.heartbeat_s, s.heartbeat_timeout_s) == (2.0, 6.0)
    s = load_settings(env={"LOOPML_HEARTBEAT_S": "2", "LOOPML_HEARTBEAT_TIMEOUT_S": "60"})
    assert (s.heartbeat_s, s.heartbeat_timeout_s) == (2.0, 60.0)
    assert load_settings(env={}).heartbeat_timeout_s == 30.0
    with pytest.raises(InvalidInput, match="LOOPML_HEARTBEAT_S"):
        load_settings(env={"LOOPML_HEARTBEAT_S": "0"})
    with pytest.raises(InvalidInput, match="LOOPML_HEARTBEAT_TIMEOUT_S"):
        load_settings(env={"LOOPML_HEARTBEAT_TIMEOUT_S": "soon"})


def test_a_run_left_running_before_heartbeats_existed_is_reaped(client: Client) -> None:
    owner = another_tracker(client)
    run = owner.start_run(experiment="e", name="zombie")
    owner.close()
    with client.stores.meta.write() as conn:  # as a database upgraded from 0004 has it
        conn.execute(
            runs.update()
            .where(runs.c.id == run.id)
            .values(heartbeat_at=None, host=None, pid=None, pid_scope=None, start_time=1e9)
        )
    client.tracking.reap_stale()
    got = client.tracking.get_run(run.id)
    assert got.status is RunStatus.LOST and got.end_time == 1e9
    assert got.error is not None and "an unknown process" in got.error


def test_the_cli_reaps_dead_runs_and_shows_the_owner_process(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    import json

    with _holder(env, tmp_path) as (proc, run_id):
        shown = run_cli(env, "runs", "show", run_id)
        assert shown.returncode == 0, shown.stderr
        assert f"process: pid {proc.pid} on " in shown.stdout and "last heartbeat" in shown.stdout
        proc.kill()
        proc.wait(timeout=30)
    out = run_cli(env, "runs", "reap", "--json")
    assert out.returncode == 0, out.stderr
    [lost] = json.loads(out.stdout)
    assert lost["id"] == run_id and f"pid {proc.pid}" in lost["reason"]
    again = run_cli(env, "runs", "reap")
    assert again.returncode == 0 and "no dead runs" in again.stdout
    listed = run_cli(env, "runs", "list", "--json")
    assert [r["status"] for r in json.loads(listed.stdout)] == ["lost"]


def test_gc_ends_dead_runs_as_lost_before_collecting(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    import json

    with _holder(env, tmp_path) as (proc, run_id):
        dry = run_cli(env, "gc", "--json", "--dry-run")  # reports only: reaps nothing either
        assert dry.returncode == 0 and json.loads(dry.stdout)["runs_lost"] == [], dry.stderr
        alive = run_cli(env, "gc", "--json", "--grace", "0")
        assert alive.returncode == 0 and json.loads(alive.stdout)["runs_lost"] == []
        proc.kill()
        proc.wait(timeout=30)
    out = run_cli(env, "gc", "--json", "--grace", "0")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runs_lost"] == [run_id]
    assert client.tracking.get_run(run_id).status is RunStatus.LOST
