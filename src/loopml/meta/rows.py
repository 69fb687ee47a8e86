"""Dialect-aware row helpers that several aggregates share."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_BULK_ROWS = 64


def insert_ignore(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT that skips rows whose primary key exists (another writer stored them first).
    Many rows of plain columns (a push records thousands of chunks) go to the driver's
    ``executemany`` as tuples, skipping SQLAlchemy's per-row parameter processing."""
    if not rows:
        return
    if len(rows) >= _BULK_ROWS and not any(isinstance(c.type, sa.JSON) for c in table.c):
        cols = list(rows[0])
        quote = conn.dialect.identifier_preparer.quote
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join([mark] * len(cols))}) ON CONFLICT DO NOTHING"
        )
        conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)


def lock_named(conn: Connection, table: sa.Table, name: str, **values: Any) -> int:
    """The id of the row of ``table`` called ``name``, created with ``values`` if missing and
    locked until commit, so numbering its versions happens one writer at a time.

    PostgreSQL: insert-if-absent, then ``SELECT … FOR UPDATE``. SQLite: the write transaction
    (``BEGIN IMMEDIATE``) already holds the database lock."""
    by_name = sa.select(table.c.id).where(table.c.name == name)
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        conn.execute(insert(table).values(name=name, **values).on_conflict_do_nothing())
        return int(conn.execute(by_name.with_for_update()).scalar_one())
    found = conn.execute(by_name).scalar()
    if found is not None:
        return int(found)
    return int(conn.execute(table.insert().values(name=name, **values)).inserted_primary_key[0])  # type: ignore[index]
