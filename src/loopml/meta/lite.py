"""Reads of the embedded SQLite database with the standard library alone.

Importing SQLAlchemy costs a CLI call about a quarter of a second, more than answering "is
this data already stored?" takes. A path that only needs to read may ask :func:`open_reader`
first; it returns ``None`` whenever the quick way cannot be taken safely (another database,
no database yet, a schema other than the one this release knows), and the caller then opens
the stores as usual. Nothing here writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from loopml.meta.migrations import HEAD_REVISION

_PREFIX = "sqlite:///"


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> SimpleNamespace:
    return SimpleNamespace(**{d[0]: v for d, v in zip(cursor.description, values, strict=True)})


def sqlite_path(db_url: str) -> Path | None:
    """The file behind a plain ``sqlite:///PATH`` URL; None for anything else."""
    if not db_url.startswith(_PREFIX) or "?" in db_url:
        return None
    path = db_url[len(_PREFIX) :]
    return Path(path) if path and path != ":memory:" else None


def open_reader(db_url: str) -> sqlite3.Connection | None:
    """A connection for SELECTs on an existing, up-to-date SQLite database (rows as attribute
    objects), or None. The caller closes it."""
    path = sqlite_path(db_url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA busy_timeout=60000")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if row is None or row[0] != HEAD_REVISION:
            conn.close()
            return None
    except sqlite3.Error:
        conn.close()
        return None
    conn.row_factory = _row
    return conn
