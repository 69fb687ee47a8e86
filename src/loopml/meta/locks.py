"""Named locks shared by every thread, process and machine that opens one metadata database.

A lock is independent of the database's write lock, so its holder can run ordinary write
transactions while holding it, and is released by the operating system or the database server
when its holder dies:

- SQLite: ``flock`` (shared or exclusive) on a file per name in ``<database>.locks/`` next to
  the database file.
- PostgreSQL: ``pg_advisory_xact_lock[_shared]`` on a 64-bit hash of the schema the store
  lives in and the name (advisory locks are database-wide: stores in two schemas of one
  database never wait for each other), held by a transaction on a connection of its own
  (released when that transaction ends or its connection drops). A hash collision only makes
  two names wait for each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from loopml.core.errors import StoreError
from loopml.meta.engine import MetaStore


def lock_digest(meta: MetaStore, name: str) -> bytes:
    """The 8-byte identity of the lock ``name`` of ``meta`` (PostgreSQL key, SQLite file
    name)."""
    scoped = f"loopml.{_schema(meta)}/{name}" if meta.dialect == "postgresql" else f"loopml.{name}"
    return hashlib.blake2b(scoped.encode(), digest_size=8).digest()


def _schema(meta: MetaStore) -> str:
    if meta.lock_namespace is None:
        try:
            with meta.engine.connect() as conn:
                meta.lock_namespace = str(conn.execute(sa.text("SELECT current_schema()")).scalar())
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot take a metadata database lock: {exc.orig}") from exc
    return meta.lock_namespace


@contextlib.contextmanager
def named_lock(
    meta: MetaStore, name: str, *, shared: bool = False, wait: bool = True
) -> Iterator[bool]:
    """Hold the lock ``name`` for the ``with`` block: exclusive, or ``shared`` with other
    shared holders.

    Yields True once held. With ``wait=False`` it yields False at once when a conflicting
    holder has it (the block then runs without the lock and must not rely on it)."""
    digest = lock_digest(meta, name)
    if meta.dialect == "postgresql":
        with _pg_lock(meta, digest, shared, wait) as held:
            yield held
    else:
        with _file_lock(meta, digest, shared, wait) as held:
            yield held


@contextlib.contextmanager
def _pg_lock(meta: MetaStore, digest: bytes, shared: bool, wait: bool) -> Iterator[bool]:
    key = int.from_bytes(digest, "big", signed=True)
    function = ("pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock") + (
        "_shared" if shared else ""
    )
    try:
        conn = meta.engine.connect()
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot take a metadata database lock: {exc.orig}") from exc
    try:
        try:
            conn.begin()
            result = conn.execute(sa.text(f"SELECT {function}(:k)"), {"k": key}).scalar()
            held = True if wait else bool(result)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot take a metadata database lock: {exc.orig}") from exc
        yield held
    finally:
        # Closing returns the connection with its transaction rolled back, which releases
        # the lock; nothing was written on it.
        conn.close()


@contextlib.contextmanager
def _file_lock(meta: MetaStore, digest: bytes, shared: bool, wait: bool) -> Iterator[bool]:
    database = meta.engine.url.database
    if not database or database == ":memory:":
        # Every connection to an in-memory database is a database of its own: nobody else
        # can see it, so there is nothing to wait for.
        yield True
        return
    folder = Path(database + ".locks")
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / f"{digest.hex()}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode if wait else mode | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        # Closing the descriptor releases the lock (flock locks belong to the open file).
        os.close(fd)
