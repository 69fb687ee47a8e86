"""The one cursor reader of the events outbox: order, kinds, limits, waiting, cursors, and
that every writer's events come back as their typed payloads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from loopml.api.events import (
    DatasetVersionCreated,
    DeploymentRecorded,
    EventKind,
    ModelAliasChanged,
    ModelAliasDeleted,
    ModelVersionCreated,
    RunFailed,
    RunFinished,
    RunStarted,
)
from loopml.core.errors import InvalidInput, InvalidName
from loopml.events import EventService
from loopml.meta.events import append_event
from loopml.meta.tables import events
from loopml.sdk import Client


def _append(client: Client, *payloads: object) -> None:
    with client.stores.meta.write() as conn:
        for p in payloads:
            append_event(conn, p)  # type: ignore[arg-type]


def _runs(n: int) -> list[RunStarted]:
    return [RunStarted(f"{i:032x}", "e", f"r{i}") for i in range(n)]


def test_read_after_returns_newer_events_oldest_first_by_cursor(client: Client) -> None:
    reader = EventService(client.stores)
    assert reader.read_after(0) == [] and reader.latest_cursor() == 0
    _append(client, *_runs(5))
    first = reader.read_after(0, limit=2)
    assert [e.payload for e in first] == _runs(2)
    rest = reader.read_after(first[-1].id)
    assert [e.payload for e in rest] == _runs(5)[2:]
    ids = [e.id for e in first + rest]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert reader.latest_cursor() == ids[-1]
    assert reader.read_after(ids[-1]) == []
    assert all(e.kind is EventKind.RUN_STARTED and e.subject == e.payload.subject for e in rest)


def test_read_after_keeps_only_the_kinds_asked_for(client: Client) -> None:
    reader = EventService(client.stores)
    moved = ModelAliasChanged("m", "production", 2, 1)
    deleted = ModelAliasDeleted("m", "staging", 1)
    _append(client, RunStarted("r" * 32, "e", "n"), moved, DatasetVersionCreated("d", 1, "x"))
    _append(client, deleted)
    got = reader.read_after(0, [EventKind.MODEL_ALIAS_CHANGED, "model.alias_deleted"])
    assert [e.payload for e in got] == [moved, deleted]
    assert [e.payload for e in reader.read_after(0, ["dataset.version_created"])] == [
        DatasetVersionCreated("d", 1, "x")
    ]


def test_rows_of_an_unknown_kind_are_skipped_not_fatal(client: Client) -> None:
    # A newer version may write kinds this one does not know.
    with client.stores.meta.write() as conn:
        conn.execute(
            events.insert().values(kind="alert.raised", subject="s", payload={}, created_at=1.0)
        )
    _append(client, *_runs(1))
    reader = EventService(client.stores)
    assert [e.payload for e in reader.read_after(0)] == _runs(1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"cursor": -1}, "event cursor"),
        ({"cursor": "3"}, "event cursor"),
        ({"cursor": True}, "event cursor"),
        ({"cursor": 0, "limit": 0}, "limit"),
        ({"cursor": 0, "limit": 10_001}, "limit"),
        ({"cursor": 0, "wait": -1}, "wait"),
        ({"cursor": 0, "wait": float("nan")}, "wait"),
        ({"cursor": 0, "kinds": ["model.*"]}, "unknown event kind"),
    ],
)
def test_bad_reader_arguments_say_what_is_expected(
    client: Client, args: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        EventService(client.stores).read_after(**args)  # type: ignore[arg-type]


def test_waiting_backs_off_and_gives_up_when_the_time_has_passed(client: Client) -> None:
    now = [100.0]
    pauses: list[float] = []

    def sleep(s: float) -> None:
        pauses.append(s)
        now[0] += s

    reader = EventService(client.stores, clock=lambda: now[0], sleep=sleep)
    assert reader.read_after(0, wait=2.0) == []
    assert sum(pauses) == pytest.approx(2.0)
    assert pauses[:4] == [0.01, 0.02, 0.04, 0.08]  # a back-off, not a busy loop
    assert max(pauses) <= 0.25 and len(pauses) < 20


def test_waiting_returns_as_soon_as_an_event_arrives(client: Client) -> None:
    reader = EventService(client.stores)
    cursor = reader.latest_cursor()
    timer = threading.Timer(0.2, _append, (client, *_runs(1)))
    started = time.monotonic()
    timer.start()
    try:
        got = reader.read_after(cursor, wait=30.0)
    finally:
        timer.join()
    assert [e.payload for e in got] == _runs(1)
    assert time.monotonic() - started < 10.0


def test_a_consumer_saves_and_loads_its_own_cursor(client: Client) -> None:
    reader = EventService(client.stores)
    assert reader.load_cursor("controller") == 0
    reader.save_cursor("controller", 5)
    reader.save_cursor("controller", 9)
    reader.save_cursor("other", 1)
    assert (reader.load_cursor("controller"), reader.load_cursor("other")) == (9, 1)
    with pytest.raises(InvalidInput, match="event cursor"):
        reader.save_cursor("controller", -3)
    with pytest.raises(InvalidName, match="consumer name"):
        reader.load_cursor("../etc")


def test_every_writer_appends_typed_events_that_read_back(client: Client, tmp_path: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n")
    client.datasets.push("d", data)
    with client.tracking.start_run(experiment="e", name="ok") as run:
        pass
    with pytest.raises(RuntimeError), client.tracking.start_run(experiment="e", name="bad") as bad:
        raise RuntimeError("boom")
    x = np.array([[0.0, 1.0], [1.0, 0.0]])
    client.models.register("m", LogisticRegression().fit(x, [0, 1]), metrics={"acc": 0.5})
    client.models.set_alias("m", "staging", 1)
    client.models.delete_alias("m", "staging")
    deployed = client.deployments.deploy("m", version=1)
    reader = EventService(client.stores)
    payloads = [e.payload for e in reader.read_after(0, limit=100)]
    digest = client.datasets.show("d").content_digest
    assert payloads == [
        DatasetVersionCreated("d", 1, digest),
        RunStarted(run.id, "e", "ok"),
        RunFinished(run.id, "e", "ok"),
        RunStarted(bad.id, "e", "bad"),
        RunFailed(bad.id, "e", "bad"),
        ModelVersionCreated("m", 1, "sklearn", None, {"acc": 0.5}),
        ModelAliasChanged("m", "staging", 1, None),
        ModelAliasDeleted("m", "staging", 1),
        ModelAliasChanged("m", "production", 1, None),
        DeploymentRecorded(deployed.id, "m", "production", "deploy", 1, None, "deployed"),
    ]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_an_event_committed_after_a_newer_one_is_not_skipped(client: Client) -> None:
    # PostgreSQL takes an id at insert: id 2 can commit, and be read, before id 1.
    reader = EventService(client.stores)
    early, late, after = _runs(3)
    with client.stores.meta.engine.connect() as slow:
        tx = slow.begin()
        append_event(slow, early)  # id 1, in flight
        _append(client, late)  # id 2, committed
        assert reader.read_after(0) == []  # 2 waits: 1 may still come
        assert reader.latest_cursor() == 0
        assert reader.read_after(0, wait=0.05) == []
        tx.commit()
    assert [e.payload for e in reader.read_after(0)] == [early, late]
    assert reader.latest_cursor() == 2
    with client.stores.meta.engine.connect() as failing:
        tx = failing.begin()
        append_event(failing, after)  # id 3, rolled back: a gap for good
        tx.rollback()
    _append(client, after)  # id 4
    assert [(e.id, e.payload) for e in reader.read_after(2)] == [(4, after)]
