"""SQL for the monitors and monitor_results tables."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api import codec
from loopml.api.monitors import MonitorResult, MonitorSpec
from loopml.meta.tables import monitor_results, monitors

_M = monitors.c
_R = monitor_results.c


def _spec(row: Any) -> MonitorSpec:
    spec = codec.from_builtins(row.spec, MonitorSpec)
    return dataclasses.replace(
        spec,
        id=int(row.id),
        deployment=row.deployment,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def insert_monitor(conn: Connection, spec: MonitorSpec) -> MonitorSpec:
    res = conn.execute(
        monitors.insert().values(
            deployment=spec.deployment,
            spec=codec.to_builtins(spec),
            created_at=spec.created_at,
            created_by=spec.created_by,
        )
    )
    key = res.inserted_primary_key
    assert key is not None
    return get_monitor(conn, spec.deployment) or spec


def get_monitor(conn: Connection, deployment: str) -> MonitorSpec | None:
    row = conn.execute(sa.select(monitors).where(_M.deployment == deployment)).first()
    return None if row is None else _spec(row)


def list_monitors(conn: Connection) -> list[MonitorSpec]:
    return [_spec(r) for r in conn.execute(sa.select(monitors).order_by(_M.deployment))]


def delete_monitor(conn: Connection, monitor_id: int) -> int:
    """Delete a monitor and its results; how many results went with it."""
    gone = conn.execute(monitor_results.delete().where(_R.monitor_id == monitor_id)).rowcount
    conn.execute(monitors.delete().where(_M.id == monitor_id))
    return int(gone or 0)


def insert_result(conn: Connection, result: MonitorResult) -> int:
    res = conn.execute(
        monitor_results.insert().values(
            monitor_id=result.monitor_id,
            window_start=result.start,
            window_end=result.end,
            status=result.status,
            rows=result.rows,
            alerts=len(result.alerts),
            result=codec.to_builtins(result),
            created_at=result.created_at,
        )
    )
    key = res.inserted_primary_key
    assert key is not None
    return int(key[0])


def list_results(conn: Connection, monitor_id: int, limit: int) -> list[MonitorResult]:
    rows = conn.execute(
        sa.select(_R.id, _R.result)
        .where(_R.monitor_id == monitor_id)
        .order_by(_R.id.desc())
        .limit(limit)
    )
    out = []
    for row in rows:
        result = codec.from_builtins(row.result, MonitorResult)
        out.append(dataclasses.replace(result, id=int(row.id)))
    return out
