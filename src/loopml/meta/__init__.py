"""Metadata store: SQLAlchemy 2 Core over SQLite (WAL) or PostgreSQL, migrated by Alembic."""

from loopml.meta.engine import MetaStore, open_meta

__all__ = ["MetaStore", "open_meta"]
