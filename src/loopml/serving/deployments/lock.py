"""One deploy or rollback at a time per ``model@alias``, across threads and processes.

The lock is independent of the metadata database's write lock, so its holder can run ordinary
write transactions (the registry's alias move among them) while holding it, and is released
by the operating system or the database server when its holder dies:

- SQLite: an exclusive ``flock`` on a file per ``model@alias`` in ``<database>.deploy-locks/``
  next to the database file.
- PostgreSQL: ``pg_advisory_xact_lock`` on a 64-bit hash of ``model@alias``, held by a
  transaction on a connection of its own (released when that transaction ends or its
  connection drops). A hash collision only makes two aliases wait for each other.
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


def _digest(model: str, alias: str) -> bytes:
    return hashlib.blake2b(f"loopml.deploy:{model}@{alias}".encode(), digest_size=8).digest()


@contextlib.contextmanager
def alias_lock(meta: MetaStore, model: str, alias: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the deploy lock of ``model@alias`` for the ``with`` block.

    Yields True once held. With ``wait=False`` it yields False at once when another holder
    has it (the block then runs without the lock and must not act on the alias)."""
    if meta.dialect == "postgresql":
        with _pg_lock(meta, _digest(model, alias), wait) as held:
            yield held
    else:
        with _file_lock(meta, _digest(model, alias), wait) as held:
            yield held


@contextlib.contextmanager
def _pg_lock(meta: MetaStore, digest: bytes, wait: bool) -> Iterator[bool]:
    key = int.from_bytes(digest, "big", signed=True)
    try:
        conn = meta.engine.connect()
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot take the deploy lock: {exc.orig}") from exc
    try:
        try:
            conn.begin()
            if wait:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
                held = True
            else:
                held = bool(
                    conn.execute(
                        sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}
                    ).scalar()
                )
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot take the deploy lock: {exc.orig}") from exc
        yield held
    finally:
        # Closing returns the connection with its transaction rolled back, which releases
        # the lock; nothing was written on it.
        conn.close()


@contextlib.contextmanager
def _file_lock(meta: MetaStore, digest: bytes, wait: bool) -> Iterator[bool]:
    database = meta.engine.url.database
    if not database or database == ":memory:":
        # Every connection to an in-memory database is a database of its own: nobody else
        # can see this alias, so there is nothing to wait for.
        yield True
        return
    folder = Path(database + ".deploy-locks")
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / f"{digest.hex()}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        # Closing the descriptor releases the lock (flock locks belong to the open file).
        os.close(fd)
