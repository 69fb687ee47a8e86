"""Rows of the triggers, firings and jobs tables to value types and back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.codec import from_builtins, to_builtins
from loopml.api.triggers import Firing, Job, JobStatus, Trigger, TriggerSpec
from loopml.core.errors import NotFound
from loopml.meta.tables import firings, jobs, triggers

T, F, J = triggers.c, firings.c, jobs.c


def spec_json(spec: TriggerSpec) -> Any:
    return to_builtins(spec)


def to_trigger(row: Any) -> Trigger:
    return Trigger(
        id=row.id,
        spec=from_builtins(row.spec, TriggerSpec),
        enabled=bool(row.enabled),
        created_at=row.created_at,
        created_by=row.created_by,
        after_event=int(row.after_event),
        last_fired_at=row.last_fired_at,
    )


def get_row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = sa.select(triggers).where(T.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no trigger named {name!r}; list them with: loopml trigger list")
    return row


def list_rows(conn: Connection, enabled_only: bool = False) -> list[Any]:
    query = sa.select(triggers).order_by(T.name)
    if enabled_only:
        query = query.where(T.enabled.is_(True))
    return list(conn.execute(query))


def to_job(row: Any, trigger: str) -> Job:
    return Job(
        id=int(row.id),
        trigger=trigger,
        firing_id=int(row.firing_id),
        action=row.action,
        params=dict(row.params),
        executor=row.executor,
        status=JobStatus(row.status),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        created_at=row.created_at,
        not_before=row.not_before,
        started_at=row.started_at,
        ended_at=row.ended_at,
        run_id=row.run_id,
        worker=None if row.lease_pid is None else f"pid {row.lease_pid} on {row.lease_host}",
        error=row.error,
        result=row.result,
    )


def job_query() -> sa.Select[Any]:
    return sa.select(jobs, T.name.label("trigger_name")).join(triggers, T.id == J.trigger_id)


def get_job(conn: Connection, job_id: int) -> Job:
    row = conn.execute(job_query().where(J.id == job_id)).first()
    if row is None:
        raise NotFound(f"no job {job_id}; list them with: loopml jobs list")
    return to_job(row, row.trigger_name)


def list_jobs(
    conn: Connection, status: JobStatus | None, trigger: str | None, limit: int
) -> list[Job]:
    query = job_query().order_by(J.id.desc()).limit(limit)
    if status is not None:
        query = query.where(J.status == status.value)
    if trigger is not None:
        query = query.where(T.name == trigger)
    return [to_job(r, r.trigger_name) for r in conn.execute(query)]


def list_firings(conn: Connection, trigger_id: int, name: str, limit: int) -> list[Firing]:
    query = (
        sa.select(firings, J.id.label("job_id"), J.status.label("job_status"), J.run_id)
        .outerjoin(jobs, J.firing_id == F.id)
        .where(F.trigger_id == trigger_id)
        .order_by(F.id.desc())
        .limit(limit)
    )
    return [
        Firing(
            id=int(r.id),
            trigger=name,
            event_key=r.event_key,
            event=dict(r.event),
            created_at=r.created_at,
            job_id=None if r.job_id is None else int(r.job_id),
            status=None if r.job_status is None else JobStatus(r.job_status),
            run_id=r.run_id,
        )
        for r in conn.execute(query)
    ]


def dialect_insert(conn: Connection) -> Any:
    """The INSERT of ``conn``'s dialect (it has ``on_conflict_do_nothing``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert
    from sqlalchemy.dialects.sqlite import insert as lite_insert

    return lite_insert


def insert_firings(
    conn: Connection,
    items: list[tuple[Trigger, str, dict[str, Any], dict[str, str]]],
    now: float,
) -> int:
    """Record firings (trigger, event key, event fields, filled parameters) and queue one job
    for each, in the caller's transaction, a few statements per batch; returns how many were
    new. A (trigger, event) that fired already is left alone (the unique pair decides,
    whoever commits first)."""
    if not items:
        return 0
    insert = dialect_insert(conn)
    by_key = {(t.id, key[:200]): (t, params) for t, key, _, params in items}
    rows = [
        {"trigger_id": t.id, "event_key": key[:200], "event": fields, "created_at": now}
        for t, key, fields, _ in items
    ]
    new = conn.execute(
        insert(firings)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["trigger_id", "event_key"])
        .returning(F.id, F.trigger_id, F.event_key)
    ).all()
    if not new:
        return 0
    job_rows = []
    for firing_id, trigger_id, key in new:
        trigger, params = by_key[(trigger_id, key)]
        spec = trigger.spec
        job_rows.append(
            {
                "trigger_id": trigger_id,
                "firing_id": firing_id,
                "action": spec.action,
                "params": params,
                "executor": spec.executor,
                "status": JobStatus.QUEUED.value,
                "attempts": 0,
                "max_attempts": spec.retries + 1,
                "not_before": now,
                "created_at": now,
            }
        )
    conn.execute(jobs.insert(), job_rows)
    fired = sorted({int(r[1]) for r in new})
    conn.execute(triggers.update().where(T.id.in_(fired)).values(last_fired_at=now))
    return len(new)


def insert_firing(
    conn: Connection,
    trigger: Trigger,
    event_key: str,
    event: dict[str, Any],
    params: dict[str, str],
    now: float,
) -> bool:
    """One firing and its job; False if this (trigger, event) fired already."""
    return insert_firings(conn, [(trigger, event_key, event, params)], now) == 1
