"""SQL for the deployments table."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api import codec
from loopml.api.deployments import Action, Deployment, DeploymentStatus, GateResult
from loopml.api.events import EventKind
from loopml.deployments.lifecycle import check_transition
from loopml.meta.tables import deployments, events

_D = deployments.c
_E = events.c


def from_row(row: Any) -> Deployment:
    return Deployment(
        id=int(row.id),
        model=row.model,
        alias=row.alias,
        action=Action(row.action),
        version=row.version,
        previous_version=row.previous_version,
        selector=row.selector,
        gate=row.gate,
        gate_result=codec.from_builtins(row.gate_result, GateResult) if row.gate_result else None,
        status=DeploymentStatus(row.status),
        reason=row.reason,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def insert(conn: Connection, values: dict[str, Any]) -> int:
    res = conn.execute(deployments.insert().values(**values))
    key = res.inserted_primary_key
    assert key is not None
    return int(key[0])


def get(conn: Connection, deployment_id: int) -> Deployment:
    row = conn.execute(sa.select(deployments).where(_D.id == deployment_id)).one()
    return from_row(row)


def move(
    conn: Connection,
    deployment_id: int,
    new: DeploymentStatus,
    now: float,
    **values: Any,
) -> Deployment:
    """Change a record's status, checking the move is legal."""
    current = get(conn, deployment_id)
    check_transition(deployment_id, current.status, new)
    conn.execute(
        deployments.update()
        .where(_D.id == deployment_id)
        .values(status=new.value, updated_at=now, **values)
    )
    return get(conn, deployment_id)


def history(conn: Connection, model: str, alias: str | None, limit: int) -> list[Deployment]:
    query = sa.select(deployments).where(_D.model == model)
    if alias is not None:
        query = query.where(_D.alias == alias)
    rows = conn.execute(query.order_by(_D.id.desc()).limit(limit)).all()
    return [from_row(r) for r in rows]


def last_deployed(conn: Connection, model: str, alias: str) -> Deployment | None:
    """The newest deploy that is still in force (not rolled back): what a rollback undoes."""
    row = conn.execute(
        sa.select(deployments)
        .where(
            _D.model == model,
            _D.alias == alias,
            _D.action == Action.DEPLOY.value,
            _D.status == DeploymentStatus.DEPLOYED.value,
        )
        .order_by(_D.id.desc())
        .limit(1)
    ).first()
    return None if row is None else from_row(row)


def pending(conn: Connection, model: str, alias: str) -> list[Deployment]:
    """The records of ``model@alias`` still ``pending``, oldest first."""
    rows = conn.execute(
        sa.select(deployments)
        .where(
            _D.model == model,
            _D.alias == alias,
            _D.status == DeploymentStatus.PENDING.value,
        )
        .order_by(_D.id)
    ).all()
    return [from_row(r) for r in rows]


def pending_aliases(conn: Connection, model: str, alias: str | None) -> list[str]:
    """The aliases of ``model`` (only ``alias`` when given) with a ``pending`` record."""
    query = sa.select(_D.alias).where(
        _D.model == model, _D.status == DeploymentStatus.PENDING.value
    )
    if alias is not None:
        query = query.where(_D.alias == alias)
    return sorted(set(conn.execute(query.distinct()).scalars()))


def alias_move(
    conn: Connection, model: str, alias: str, version: int, since: float
) -> dict[str, Any] | None:
    """The payload of the first ``model.alias_changed`` event that moved ``model@alias`` to
    ``version`` at or after ``since`` (it carries the version the alias left)."""
    payloads = conn.execute(
        sa.select(_E.payload)
        .where(
            _E.kind == EventKind.MODEL_ALIAS_CHANGED.value,
            _E.subject == f"{model}@{alias}",
            _E.created_at >= since,
        )
        .order_by(_E.id)
    ).scalars()
    for payload in payloads:
        if payload.get("version") == version:
            return dict(payload)
    return None
