"""One deploy or rollback at a time per ``model@alias``, across threads and processes.

A thin layer over :func:`loopml.meta.locks.named_lock` (an exclusive lock per
``model@alias``; see there how it is held on SQLite and PostgreSQL), so its holder can run
ordinary write transactions (the registry's alias move among them) while holding it, and it is
released by the operating system or the database server when its holder dies.

It is a mutual-exclusion lock, not a lease (:mod:`loopml.meta.lease`): it has no heartbeat and
no expiry of its own to judge, since a dead holder's lock is gone with its process or
connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from loopml.meta.engine import MetaStore
from loopml.meta.locks import named_lock


@contextlib.contextmanager
def alias_lock(meta: MetaStore, model: str, alias: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the deploy lock of ``model@alias`` for the ``with`` block.

    Yields True once held. With ``wait=False`` it yields False at once when another holder
    has it (the block then runs without the lock and must not act on the alias)."""
    with named_lock(meta, f"deploy:{model}@{alias}", wait=wait) as held:
        yield held
