"""Database fixtures: every store test runs against SQLite and the machine's PostgreSQL.

PostgreSQL isolation is one fresh schema per test (selected through ``search_path`` in the
URL), dropped afterwards, so tests never see each other's rows and start in milliseconds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN = os.environ.get("LOOPML_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_url(schema: str) -> str:
    base = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    return f"{base}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    yield engine
    engine.dispose()


@pytest.fixture
def pg_schema_url(pg_engine: sa.Engine) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema, dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    with pg_engine.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_url(schema)
    finally:
        with pg_engine.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


# For a test whose subject does not depend on the database (``db_url`` runs it on both).
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty metadata database URL of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'loopml.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url
