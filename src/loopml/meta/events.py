"""The transactional outbox: appending typed events in the writer's transaction, and the
cursors their consumers keep."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.events import Payload, encode_payload
from loopml.core.errors import InvalidInput
from loopml.core.names import validate_name
from loopml.meta.tables import event_cursors, events

_INSERT = events.insert()


def append_event(conn: Connection, payload: Payload) -> None:
    """Append one event on ``conn``; it commits or rolls back with the caller's write. Kind
    and subject come from the payload's type."""
    conn.execute(
        _INSERT,
        {
            "kind": payload.kind.value,
            "subject": payload.subject,
            "payload": encode_payload(payload),
            "created_at": time.time(),
        },
    )


def load_cursor(conn: Connection, consumer: str) -> int:
    """The last event id ``consumer`` saved (0: it starts from the first event)."""
    validate_name(consumer, "event consumer name")
    found = conn.execute(
        sa.select(event_cursors.c.cursor).where(event_cursors.c.consumer == consumer)
    ).scalar()
    return 0 if found is None else int(found)


def save_cursor(conn: Connection, consumer: str, cursor: int) -> None:
    """Remember that ``consumer`` handled every event up to ``cursor``; saved on the
    consumer's own transaction, with what it did, so a crash repeats nothing it committed."""
    validate_name(consumer, "event consumer name")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise InvalidInput(f"an event cursor is an event id (a whole number >= 0), got {cursor!r}")
    values = {"cursor": cursor, "updated_at": time.time()}
    done = conn.execute(
        event_cursors.update().where(event_cursors.c.consumer == consumer).values(**values)
    )
    if done.rowcount == 0:
        conn.execute(event_cursors.insert().values(consumer=consumer, **values))
