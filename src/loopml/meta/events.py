"""Appending to the transactional outbox."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.engine import Connection

from loopml.meta.tables import events

_INSERT = events.insert()


def append_event(conn: Connection, kind: str, subject: str, payload: dict[str, Any]) -> None:
    """Append one event on ``conn``; it commits or rolls back with the caller's write."""
    conn.execute(
        _INSERT, {"kind": kind, "subject": subject, "payload": payload, "created_at": time.time()}
    )
