"""The client-side tracker through the public API: flush acknowledges, ending a run commits
its metrics, a run is stored from its first flush, a clash with another writer is reported, a
forked child writes nothing of its parent's (the buffer's own machinery, the flusher thread and
process exits: tests/tracking/test_buffer.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml import Client, Conflict
from loopml.api.runs import RunStatus

pytestmark = pytest.mark.services("runs", "search", "maintenance")


def test_flush_blocks_until_points_are_visible_to_another_client(
    client: Client, tmp_path: Path
) -> None:
    run = client.tracking.start_run(experiment="e")
    for i in range(5000):
        run.log_metric("loss", 1.0 / (i + 1))
    run.flush()
    other = Client(client.settings)
    try:
        assert len(other.tracking.metric_history(run.id, "loss")) == 5000  # every point stored
        assert other.tracking.get_run(run.id).metric_summaries["loss"].count == 5000
    finally:
        other.close()
    run.end()


def test_end_run_commits_metrics_with_the_status_change(client: Client) -> None:
    run = client.tracking.start_run(experiment="e")
    run.log_metrics({"a": 1.0, "b": 2.0})
    run.end()
    assert client.tracking.writer.pending() == 0
    stored = [client.tracking.metric_history(run.id, k) for k in ("a", "b")]
    assert [len(points) for points in stored] == [1, 1]


def test_a_run_is_in_the_database_from_its_first_flush(client: Client) -> None:
    run = client.tracking.start_run(experiment="e", params={"lr": 0.1}, tags={"t": "x"})
    other = Client(client.settings)
    try:
        run.flush()
        got = other.tracking.get_run(run.id)
        assert got.status is RunStatus.RUNNING and got.end_time is None
        assert (got.params, got.tags) == ({"lr": "0.1"}, {"t": "x"})
    finally:
        other.close()
        run.end()


@pytest.mark.services("events")
def test_a_run_ended_before_its_first_write_is_written_once_with_both_events(
    client: Client,
) -> None:
    with client.tracking.start_run(experiment="e") as run:
        run.log_params({"a": 1})
        run.log_metric("m", 1.0)
    events = client.services.events.read_after(0, limit=1000)
    kinds = [e.kind.value for e in events if e.subject == run.id]
    assert kinds == ["run.started", "run.finished"]
    got = client.tracking.get_run(run.id)
    assert got.status is RunStatus.FINISHED and got.params == {"a": "1"}


def test_a_param_clash_with_another_writer_is_reported_at_flush(client: Client) -> None:
    run = client.tracking.start_run(experiment="e")
    run.flush()
    other = Client(client.settings)  # e.g. another process logging to the same run
    try:
        other.tracking.log_params(run.id, {"lr": 0.2})
        run.log_params({"lr": 0.1, "depth": 3})  # no clash with what this process logged
        with pytest.raises(Conflict, match="'lr'"):
            run.flush()
        run.flush()  # reported once
        assert client.tracking.get_run(run.id).params["lr"] == "0.2"  # the first write stays
    finally:
        other.close()
        run.end()


def test_a_forked_child_does_not_write_the_parents_pending_data(client: Client) -> None:
    import os
    import warnings

    run = client.tracking.start_run(experiment="e")
    run.log_metric("loss", 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: nothing of the parent's is pending here
        os._exit(0 if client.tracking.writer.pending() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    run.end()
    assert client.tracking.get_run(run.id).metric_summaries["loss"].count == 1
