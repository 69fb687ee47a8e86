"""One controller pass: turn new events, due schedule ticks and new commits into firings and
queued jobs.

Events: the controllers share one cursor (``event_cursors`` row ``triggers``). A pass locks it
(the write transaction on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL), reads the events
after it, records every firing with its job and moves the cursor, all in ONE transaction: a
controller killed before the commit leaves nothing behind and the next pass redoes the batch;
the unique (trigger, event) pair of ``firings`` makes a firing recorded twice impossible anyway.

Schedules and commits: a due tick or a new commit is recorded as a firing keyed
``tick:EPOCH`` / ``commit:SHA`` in the same transaction that moves the trigger's state, so it
also fires once whoever sees it first."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.events import CommitSeen, ScheduleTicked
from loopml.api.triggers import Trigger
from loopml.core.errors import LoopError
from loopml.meta import events as outbox
from loopml.meta.tables import event_cursors, triggers
from loopml.triggers import gitpoll
from loopml.triggers import repository as repo
from loopml.triggers.context import Context
from loopml.triggers.match import WATCHED, Source, fill, match, parse_on
from loopml.triggers.schedule import due_ticks, to_fire

CONSUMER = "triggers"


def poll(svc: Context, limit: int, now: float, wait: float = 0.0) -> int:
    """Events, then schedules and commits; how many firings were recorded."""
    if wait > 0:
        # Wait outside any transaction for something new after the shared cursor.
        with svc.stores.meta.read() as conn:
            cursor = outbox.load_cursor(conn, CONSUMER)
        svc.events.read_after(cursor, WATCHED, 1, wait)
    fired = 0
    while True:  # drain: one transaction per batch of ``limit`` events
        read, batch = poll_events(svc, limit, now)
        fired += batch
        if read < limit:
            break
    fired += poll_sources(svc, now)
    poll_monitors(svc, now)
    return fired


def _lock_cursor(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        conn.execute(
            insert(event_cursors)
            .values(consumer=CONSUMER, cursor=0, updated_at=0.0)
            .on_conflict_do_nothing(index_elements=["consumer"])
        )
        found = conn.execute(
            sa.select(event_cursors.c.cursor)
            .where(event_cursors.c.consumer == CONSUMER)
            .with_for_update()
        ).scalar_one()
        return int(found)
    return outbox.load_cursor(conn, CONSUMER)


def poll_events(svc: Context, limit: int, now: float) -> tuple[int, int]:
    """One batch in one transaction: (events read, firings recorded)."""
    with svc.stores.meta.write() as conn:
        cursor = _lock_cursor(conn)
        found = svc.events.read_after(cursor, WATCHED, limit)
        if not found:
            return 0, 0
        watching = [
            (t, parse_on(t.spec.on))
            for t in (repo.to_trigger(r) for r in repo.list_rows(conn, enabled_only=True))
        ]
        last_fired = {t.id: t.last_fired_at for t, _ in watching}
        items = []
        for event in found:
            for trigger, source in watching:
                if event.id <= trigger.after_event:
                    continue
                fields = match(source, event)
                if fields is None or _cooling(trigger, last_fired[trigger.id], now):
                    continue
                params = _filled(trigger, fields)
                if params is not None:
                    items.append((trigger, f"event:{event.id}", fields, params))
                    last_fired[trigger.id] = now
        # Few statements per batch, whatever its size: that is a controller's throughput.
        fired = repo.insert_firings(conn, items, now)
        outbox.save_cursor(conn, CONSUMER, found[-1].id)
    return len(found), fired


def _cooling(trigger: Trigger, last: float | None, now: float) -> bool:
    return (
        bool(trigger.spec.cooldown_s) and last is not None and now - last < trigger.spec.cooldown_s
    )


def _record(
    conn: Connection, trigger: Trigger, key: str, fields: dict[str, Any], now: float
) -> bool:
    params = _filled(trigger, fields)
    return params is not None and repo.insert_firing(conn, trigger, key, fields, params, now)


def _filled(trigger: Trigger, fields: dict[str, Any]) -> dict[str, str] | None:
    try:
        return fill(trigger.spec.params, fields)
    except LoopError:
        return None  # checked at add; a webhook payload without the field does not fire


def poll_monitors(svc: Context, now: float) -> int:
    """Run each monitor added with ``every`` once per period (``floor(now / every)``): the
    controller that moves the monitor's period mark (a compare-and-set on its
    ``event_cursors`` row ``monitor-ID``) runs it; the others see the mark moved. A failed run
    is reported by the monitoring service's own result, not retried within the period."""
    ran = 0
    for spec in svc.monitoring.list():
        if not spec.every_s:
            continue
        period = int(now // spec.every_s)
        if not _claim_period(svc, f"monitor-{spec.id}", period):
            continue
        try:
            svc.monitoring.run(spec.deployment)
            ran += 1
        except LoopError as exc:
            import sys

            sys.stderr.write(f"controller: monitor {spec.deployment}: {exc}\n")
    return ran


def _claim_period(svc: Context, consumer: str, period: int) -> bool:
    c = event_cursors.c
    with svc.stores.meta.write() as conn:
        moved = conn.execute(
            event_cursors.update()
            .where(c.consumer == consumer, c.cursor < period)
            .values(cursor=period, updated_at=time.time())
        ).rowcount
        if moved:
            return True
        insert = repo.dialect_insert(conn)
        made = conn.execute(
            insert(event_cursors)
            .values(consumer=consumer, cursor=period, updated_at=time.time())
            .on_conflict_do_nothing(index_elements=["consumer"])
            .returning(c.consumer)
        ).first()
        return made is not None


def poll_sources(svc: Context, now: float) -> int:
    """Due schedule ticks and new commits of every enabled schedule and code trigger."""
    fired = 0
    with svc.stores.meta.read() as conn:
        rows = [r for r in repo.list_rows(conn, enabled_only=True)]
    for row in rows:
        source = parse_on(row.spec["on"])
        if source.kind == "schedule":
            fired += _tick(svc, row.name, source, now)
        elif source.kind == "code":
            fired += _commit(svc, row.name, source, now)
    return fired


def _tick(svc: Context, name: str, source: Source, now: float) -> int:
    with svc.stores.meta.write() as conn:
        row = repo.get_row(conn, name, lock=True)
        trigger = repo.to_trigger(row)
        state = dict(row.state or {})
        ticks = due_ticks(source.arg, trigger.spec.tz, float(state.get("last_tick", now)), now)
        if not ticks:
            return 0
        tick = to_fire(ticks, now, trigger.spec.catchup)
        _save_state(conn, row.id, {**state, "last_tick": ticks[-1]})
        if tick is None or _cooling(trigger, trigger.last_fired_at, now):
            return 0
        from datetime import UTC, datetime

        fields = {"tick": tick, "time": datetime.fromtimestamp(tick, UTC).isoformat()}
        fired = _record(conn, trigger, f"tick:{tick:.0f}", fields, now)
        if fired:  # the tick is an event too, for whoever follows the outbox
            outbox.append_event(conn, ScheduleTicked(name, float(tick), str(fields["time"])))
        return int(fired)


def _commit(svc: Context, name: str, source: Source, now: float) -> int:
    try:
        head = gitpoll.head_commit(source.arg, source.branch)
    except LoopError:
        return 0  # the repository moved or the branch is gone: nothing to fire on
    with svc.stores.meta.write() as conn:
        row = repo.get_row(conn, name, lock=True)
        state = dict(row.state or {})
        if state.get("commit") == head:
            return 0
        trigger = repo.to_trigger(row)
        _save_state(conn, row.id, {**state, "commit": head})
        if _cooling(trigger, trigger.last_fired_at, now):
            return 0
        fields = {"path": source.arg, "branch": source.branch or "HEAD", "commit": head}
        fired = _record(conn, trigger, f"commit:{head}", fields, now)
        if fired:
            outbox.append_event(conn, CommitSeen(name, source.arg, fields["branch"], head))
        return int(fired)


def _save_state(conn: Connection, trigger_id: int, state: dict[str, Any]) -> None:
    conn.execute(triggers.update().where(triggers.c.id == trigger_id).values(state=state))
