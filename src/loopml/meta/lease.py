"""One lease: a holder holds a thing until its heartbeat stops.

A row of a table is leased when it records its holder (host, pid, the process table that pid
belongs to, and optionally a token) and when the lease was last renewed. The rule, in one
place (:func:`judge`):

- the lease expires ``ttl_s`` seconds after its last renewal: at ``renewed_at + ttl_s`` it is
  still held, a moment later it is not;
- a holder that shares our process table and whose pid is gone has let go at once, however
  recent its last renewal (no need to wait out the ttl after a ``kill -9``);
- an expired lease stays the holder's until somebody acts on it: a reaper :meth:`expires
  <Leases.expire>` it (the row's own terminal state, e.g. a run ``lost``) or another holder
  :meth:`acquires <Leases.acquire>` it (a new token). Both are compare-and-set updates, so
  afterwards the old holder can neither renew nor :meth:`release <Leases.release>` it.

The clock is injectable (``Callable[[], float]``, epoch seconds; default ``time.time``) for
tests. ``clock="database"`` reads the database server's clock inside each statement instead,
so hosts whose clocks disagree do not expire each other's leases (runs use it).

Users today: runs (the tracking service renews them from its flusher thread and reaps them),
and through their tracked run the pipeline runs and their steps. The per-alias deploy lock is a
lock held by the operating system or the database server, not a lease (see
:mod:`loopml.meta.locks`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from loopml.core.errors import InvalidInput, StoreError
from loopml.core.process import Holder as Holder
from loopml.core.process import this_process as this_process

Clock = Callable[[], float]
DATABASE_CLOCK: Literal["database"] = "database"


def new_token() -> str:
    return uuid.uuid4().hex


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists in our process table (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def expires_at(renewed_at: float, ttl_s: float) -> float:
    """The last moment the lease is held: one expression, used by every check."""
    return renewed_at + ttl_s


def is_expired(renewed_at: float, ttl_s: float, now: float) -> bool:
    """Expired strictly after ``renewed_at + ttl_s``; held at that very moment."""
    return now > expires_at(renewed_at, ttl_s)


@dataclass(frozen=True)
class Expiry:
    """Why a lease is no longer held: its holder is ``gone`` (a dead pid we can see), or its
    last renewal is ``age`` seconds old, past the ttl. ``last`` is its last sign of life."""

    last: float
    gone: bool
    age: float


def judge(
    holder: Holder | None, renewed_at: float | None, since: float, now: float, ttl_s: float
) -> Expiry | None:
    """The one lease rule: None while ``holder`` holds it, else why not. ``since`` is when
    the lease began (its age counts from there when it was never renewed)."""
    last = max(renewed_at if renewed_at is not None else since, since)
    me = this_process()
    if holder is not None and holder.host == me.host and holder.scope == me.scope:
        if holder.pid == me.pid or pid_alive(holder.pid):
            return None  # its holder is alive, however late its renewal
        return Expiry(last, True, now - last)
    if not is_expired(last, ttl_s, now):
        return None
    return Expiry(last, False, now - last)


def database_now_sql(dialect: str) -> str:
    """The database server's clock in epoch seconds, as SQL."""
    if dialect == "postgresql":
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
    return "((julianday('now') - 2440587.5) * 86400.0)"


@dataclass(frozen=True)
class LeaseColumns:
    """Where a table keeps the lease of each row. ``held`` says the row is leased at all
    (e.g. a run that is running); ``token`` is optional (a run's lease is never re-acquired,
    so its id is its token)."""

    table: sa.Table
    key: sa.Column[Any]
    renewed_at: sa.Column[Any]
    host: sa.Column[Any]
    pid: sa.Column[Any]
    scope: sa.Column[Any]
    held: Callable[[], ColumnElement[bool]]
    token: sa.Column[Any] | None = None
    since: sa.Column[Any] | None = None  # when the lease began (age of a never-renewed one)


@dataclass(frozen=True)
class ExpiredLease:
    """A leased row found expired: its key, holder, last renewal as read, and why."""

    key: Any
    holder: Holder | None
    renewed_at: float | None
    expiry: Expiry
    row: Any  # the row as read, with the extra columns asked for


class Leases:
    """Acquire, renew, release and expire the leases kept in one table, on the caller's
    connection (so a lease changes in the same transaction as what it guards)."""

    def __init__(
        self,
        columns: LeaseColumns,
        ttl_s: float,
        clock: Clock | Literal["database"] = time.time,
    ) -> None:
        if not ttl_s > 0:
            raise InvalidInput(f"a lease ttl must be a number of seconds > 0, got {ttl_s!r}")
        self.c = columns
        self.ttl_s = float(ttl_s)
        self.clock = clock

    # ---------- the clock ----------
    def now(self, conn: Connection) -> ColumnElement[float]:
        """Now, as SQL: the injected clock's value, or the database server's clock."""
        if self.clock == DATABASE_CLOCK:
            return sa.literal_column(database_now_sql(conn.dialect.name), sa.Float)
        assert callable(self.clock)
        return sa.literal(float(self.clock()), sa.Float)

    def holder_values(self, holder: Holder) -> dict[str, Any]:
        """The column values that record ``holder`` (for a row inserted already leased)."""
        values = {self.c.host.name: holder.host, self.c.pid.name: holder.pid}
        values[self.c.scope.name] = holder.scope
        if self.c.token is not None:
            values[self.c.token.name] = holder.token
        return values

    def _mine(self, holder: Holder) -> list[ColumnElement[bool]]:
        if self.c.token is None:
            return [self.c.held()]
        return [self.c.held(), self.c.token == holder.token]

    # ---------- holding ----------
    def acquire(self, conn: Connection, key: Any, holder: Holder) -> bool:
        """Take the lease of the leased row ``key`` if it is free (no holder) or expired by
        the clock; True if ``holder`` holds it now. Needs a token column."""
        if self.c.token is None:
            raise StoreError(f"{self.c.table.name}: a lease without a token cannot be taken over")
        now = self.now(conn)
        free = sa.or_(
            self.c.token.is_(None),
            self.c.renewed_at.is_(None),
            self.c.renewed_at + self.ttl_s < now,
        )
        done = conn.execute(
            self.c.table.update()
            .where(self.c.key == key, self.c.held(), free)
            .values({**self.holder_values(holder), self.c.renewed_at.name: now})
        )
        return done.rowcount == 1

    def renew(self, conn: Connection, keys: Sequence[Any], holder: Holder) -> set[Any]:
        """Extend the leases ``holder`` holds among ``keys`` to ``now + ttl``; returns the
        keys it no longer holds (expired by a reaper, taken over, or released)."""
        lost: set[Any] = set()
        for start in range(0, len(keys), 500):
            batch = list(keys[start : start + 500])
            done = conn.execute(
                self.c.table.update()
                .where(self.c.key.in_(batch), *self._mine(holder))
                .values({self.c.renewed_at.name: self.now(conn)})
            )
            if done.rowcount != len(batch):
                still = conn.execute(
                    sa.select(self.c.key).where(self.c.key.in_(batch), *self._mine(holder))
                ).scalars()
                lost.update(set(batch) - set(still))
        return lost

    def release(
        self, conn: Connection, key: Any, holder: Holder, values: Mapping[str, Any]
    ) -> bool:
        """Complete the lease: write ``values`` (which end it, e.g. a final status) only if
        ``holder`` still holds it; False if it was expired or taken over meanwhile."""
        done = conn.execute(
            self.c.table.update().where(self.c.key == key, *self._mine(holder)).values(**values)
        )
        return done.rowcount == 1

    # ---------- reaping ----------
    def find_expired(
        self,
        conn: Connection,
        extra: Iterable[sa.ColumnElement[Any]] = (),
        source: sa.FromClause | None = None,
    ) -> list[ExpiredLease]:
        """Every leased row whose lease the rule says is no longer held (read only), with
        the ``extra`` columns (from ``source``, a join with the table, when given)."""
        c = self.c
        cols = [c.key, c.renewed_at, c.host, c.pid, c.scope, *extra]
        if c.token is not None:
            cols.append(c.token.label("lease_token"))
        if c.since is not None:
            cols.append(c.since.label("lease_since"))
        cols.append(self.now(conn).label("lease_now"))
        found = []
        query = sa.select(*cols).where(c.held())
        if source is not None:
            query = query.select_from(source)
        for row in conn.execute(query):
            m = row._mapping
            holder = None
            if m[c.pid.name] is not None:
                token = m["lease_token"] if c.token is not None else None
                holder = Holder(m[c.host.name], m[c.pid.name], m[c.scope.name], token)
            renewed = m[c.renewed_at.name]
            since = m["lease_since"] if c.since is not None else None
            if since is None:
                since = renewed if renewed is not None else float(m["lease_now"])
            expiry = judge(holder, renewed, since, float(m["lease_now"]), self.ttl_s)
            if expiry is not None:
                found.append(ExpiredLease(m[c.key.name], holder, renewed, expiry, row))
        return found

    def expire(self, conn: Connection, lease: ExpiredLease, values: Mapping[str, Any]) -> bool:
        """End an expired lease with ``values`` (the row's terminal state), unless it was
        renewed, ended or taken over since :meth:`find_expired` read it."""
        c = self.c
        seen = (
            c.renewed_at.is_(None) if lease.renewed_at is None else c.renewed_at == lease.renewed_at
        )
        where = [c.key == lease.key, c.held(), seen]
        if c.token is not None:
            token = lease.holder.token if lease.holder is not None else None
            where.append(c.token.is_(None) if token is None else c.token == token)
        done = conn.execute(c.table.update().where(*where).values(**values))
        return done.rowcount == 1
