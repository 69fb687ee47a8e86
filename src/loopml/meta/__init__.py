"""Metadata store: SQLAlchemy 2 Core over SQLite (WAL) or PostgreSQL, migrated by Alembic.

Names load on first use, so :mod:`loopml.meta.lite` (standard-library reads) can be imported
without SQLAlchemy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.meta.engine import MetaStore, open_meta

__all__ = ["MetaStore", "open_meta"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from loopml.meta import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'loopml.meta' has no attribute {name!r}")
