"""Dialect-aware row helpers that several aggregates share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_BULK_ROWS = 64


def insert_ignore(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """INSERT that skips rows whose primary key exists (another writer stored them first);
    the number of rows inserted. Many rows of plain columns go to the driver as tuples."""
    if not rows:
        return 0
    if len(rows) >= _BULK_ROWS and not any(isinstance(c.type, sa.JSON) for c in table.c):
        cols = list(rows[0])
        return insert_tuples_ignore(conn, table, cols, [tuple(r[c] for c in cols) for r in rows])
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return conn.execute(pg_insert(table).on_conflict_do_nothing(), rows).rowcount
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows).rowcount


def insert_tuples_ignore(
    conn: Connection, table: sa.Table, cols: Sequence[str], rows: list[tuple[Any, ...]]
) -> int:
    """:func:`insert_ignore` of rows given as tuples of plain values in the order of ``cols``,
    straight to the driver's ``executemany`` (a push records thousands of chunks: SQLAlchemy's
    per-row parameter processing would cost more than the insert). Both drivers count the
    rows an ``executemany`` inserted, skipped ones not included."""
    if not rows:
        return 0
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
        f"VALUES ({', '.join([mark] * len(cols))}) ON CONFLICT DO NOTHING"
    )
    return conn.exec_driver_sql(sql, rows).rowcount


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
