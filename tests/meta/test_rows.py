"""Row helpers shared by several aggregates, on SQLite and PostgreSQL."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from loopml.meta import open_meta
from loopml.meta.rows import insert_ignore
from loopml.meta.tables import chunks, events


@pytest.mark.parametrize("count", [3, 200])  # below and above the driver-level bulk path
def test_insert_ignore_keeps_existing_rows_and_adds_the_rest(db_url: str, count: int) -> None:
    store = open_meta(db_url)
    try:
        first = [
            {"digest": os.urandom(32), "pack_id": "a" * 64, "offset": i, "length": 1}
            for i in range(count)
        ]
        more = [
            {"digest": os.urandom(32), "pack_id": "b" * 64, "offset": i, "length": 2}
            for i in range(count)
        ]
        with store.write() as conn:
            insert_ignore(conn, chunks, first)
        clash = [{**r, "pack_id": "c" * 64} for r in first]
        with store.write() as conn:
            insert_ignore(conn, chunks, clash + more)
        with store.read() as conn:
            rows = {
                bytes(d): p for d, p in conn.execute(sa.select(chunks.c.digest, chunks.c.pack_id))
            }
        assert len(rows) == 2 * count
        assert all(rows[r["digest"]] == "a" * 64 for r in first)  # not overwritten
        assert all(rows[r["digest"]] == "b" * 64 for r in more)
    finally:
        store.dispose()


def test_insert_ignore_of_json_columns_takes_the_sqlalchemy_path(db_url: str) -> None:
    store = open_meta(db_url)
    try:
        rows = [
            {"id": i + 1, "kind": "k", "subject": "s", "payload": {"i": i}, "created_at": 0.0}
            for i in range(100)
        ]
        with store.write() as conn:
            insert_ignore(conn, events, rows)
            insert_ignore(conn, events, rows[:10])
        with store.read() as conn:
            got = conn.execute(sa.select(events.c.payload).order_by(events.c.id)).scalars().all()
        assert got == [{"i": i} for i in range(100)]
    finally:
        store.dispose()
