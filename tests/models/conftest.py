"""Helpers of the model-registry storage tests (the small trained models are in
tests/plugins/models.py, shared with the contract suite)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loopml.meta.engine import MetaStore
from loopml.meta.tables import events


def event_rows(meta: MetaStore, kind: str) -> list[Any]:
    with meta.read() as conn:
        return list(
            conn.execute(
                sa.select(events.c.subject, events.c.payload)
                .where(events.c.kind == kind)
                .order_by(events.c.id)
            )
        )


def count_rows(meta: MetaStore, table: sa.Table) -> int:
    with meta.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
