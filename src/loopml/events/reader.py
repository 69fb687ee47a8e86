"""The one cursor reader of the events outbox.

``read_after(cursor)`` returns the events with an id above ``cursor``, oldest first. It keeps
no cursor itself: the consumer does (in memory, like the endpoint's hot swap, or in the
``event_cursors`` table through :meth:`EventService.load_cursor` / :meth:`save_cursor`).

Waiting (``wait`` > 0) polls the table with a back-off from 10 ms to 250 ms: an indexed query
that finds nothing costs little on SQLite and PostgreSQL alike, and no connection is held
between polls.

On PostgreSQL an event's id is taken when it is inserted, not when its transaction commits, so
id 11 can become visible before id 10. A reader that moved its cursor past 11 would never see 10.
So when the ids a read returns have a gap while another transaction is still writing to the
events table, the read stops before the gap; the next read (or the next poll of a waiting one)
returns the rest once that transaction has ended. A gap left by a rolled-back transaction is
passed as soon as no write is in flight. (SQLite has one writer at a time: no such gaps.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from loopml.api.events import Event, EventKind, decode_payload, kinds_of
from loopml.core.errors import InvalidInput
from loopml.meta import events as outbox
from loopml.meta.tables import events
from loopml.stores import Stores

MAX_LIMIT = 10_000
_GAP_LOOKBACK = 10_000  # how far back latest_cursor looks for an id still in flight
_FIRST_PAUSE_S = 0.01
_LAST_PAUSE_S = 0.25
_E = events.c


class EventService:
    """Events of one metadata database, read by cursor."""

    def __init__(
        self,
        stores: Stores,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stores = stores
        self._clock = clock
        self._sleep = sleep

    def read_after(
        self,
        cursor: int,
        kinds: Iterable[EventKind | str] | None = None,
        limit: int = 100,
        wait: float = 0.0,
    ) -> list[Event]:
        """Up to ``limit`` events with an id above ``cursor`` (of ``kinds``; None: every
        kind), oldest first. With ``wait`` > 0 and none yet, wait up to ``wait`` seconds for
        one. The next call passes the last returned event's id."""
        cursor, limit, wait = _checked(cursor, limit, wait)
        wanted = kinds_of(kinds)
        found = self._read(cursor, wanted, limit)
        if found or wait <= 0.0:
            return found
        deadline = self._clock() + wait
        pause = _FIRST_PAUSE_S
        while True:
            left = deadline - self._clock()
            if left <= 0.0:
                return []
            self._sleep(min(pause, left))
            pause = min(pause * 2, _LAST_PAUSE_S)
            found = self._read(cursor, wanted, limit)
            if found:
                return found

    def latest_cursor(self) -> int:
        """The id of the newest event now (0 when there is none); on PostgreSQL, with a write
        in flight, the id before the first gap it may yet fill (among the newest ids)."""
        with self.stores.meta.read() as conn:
            newest = int(conn.execute(sa.select(sa.func.max(_E.id))).scalar() or 0)
            if newest and conn.dialect.name == "postgresql" and conn.execute(_WRITING).scalar():
                gap = _first_gap(conn, max(newest - _GAP_LOOKBACK, 0), newest)
                if gap is not None:
                    return gap - 1
            return newest

    def load_cursor(self, consumer: str) -> int:
        """The cursor ``consumer`` saved last (0 if it never saved one)."""
        with self.stores.meta.read() as conn:
            return outbox.load_cursor(conn, consumer)

    def save_cursor(self, consumer: str, cursor: int) -> None:
        """Save ``consumer``'s cursor on its own (a consumer that writes what it did should
        save it in that transaction with :func:`loopml.meta.events.save_cursor`)."""
        with self.stores.meta.write() as conn:
            outbox.save_cursor(conn, consumer, cursor)

    def _read(self, cursor: int, kinds: tuple[EventKind, ...], limit: int) -> list[Event]:
        query = sa.select(_E.id, _E.kind, _E.subject, _E.payload, _E.created_at).where(
            _E.id > cursor
        )
        if len(kinds) < len(EventKind):
            query = query.where(_E.kind.in_([k.value for k in kinds]))
        else:
            # Rows of a kind this version does not know (written by a newer one) are skipped.
            query = query.where(_E.kind.in_([k.value for k in EventKind]))
        with self.stores.meta.read() as conn:
            rows = list(conn.execute(query.order_by(_E.id).limit(limit)))
            if rows and conn.dialect.name == "postgresql":
                rows = _before_open_gap(conn, cursor, rows)
        return [_event(row) for row in rows]


_WRITING = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = CAST('events' AS regclass) "
    "AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid())"
)


def _before_open_gap(conn: Any, cursor: int, rows: list[Any]) -> list[Any]:
    """``rows`` up to the first missing id that a transaction still in flight may yet fill."""
    if not conn.execute(_WRITING).scalar():
        return rows  # nothing in flight: every gap is for good (a rolled-back write)
    gap = _first_gap(conn, cursor, int(rows[-1].id))
    if gap is None:
        return rows
    return [r for r in rows if int(r.id) < gap]


def _first_gap(conn: Any, cursor: int, last: int) -> int | None:
    """The smallest id between ``cursor`` and ``last`` (a present id) with no event."""
    first = int(conn.execute(sa.select(sa.func.min(_E.id)).where(_E.id > cursor)).scalar())
    if first > cursor + 1:
        return cursor + 1
    later = events.alias("later")
    gap = conn.execute(
        sa.select(sa.func.min(_E.id) + 1).where(
            _E.id >= first,
            _E.id < last,
            ~sa.exists().where(later.c.id == _E.id + 1),
        )
    ).scalar()
    return None if gap is None else int(gap)


def _event(row: Any) -> Event:
    kind = EventKind(row.kind)
    return Event(
        id=int(row.id),
        kind=kind,
        subject=row.subject,
        payload=decode_payload(kind, row.payload),
        created_at=float(row.created_at),
    )


def _checked(cursor: Any, limit: Any, wait: Any) -> tuple[int, int, float]:
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise InvalidInput(
            f"an event cursor is an event id (a whole number >= 0, 0 for the start), got {cursor!r}"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait >= 0.0:
        raise InvalidInput(f"wait must be a number of seconds >= 0, got {wait!r}")
    return cursor, limit, float(wait)
