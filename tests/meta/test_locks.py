"""Named locks: stores in two PostgreSQL schemas of one database never wait for each other."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from loopml.meta import open_meta
from loopml.meta.engine import MetaStore
from loopml.meta.locks import named_lock
from tests.plugins.db import _pg_url


@pytest.fixture
def two_schemas(pg_engine: sa.Engine) -> Iterator[tuple[MetaStore, MetaStore]]:
    names = ["t_" + uuid.uuid4().hex[:12] for _ in range(2)]
    with pg_engine.connect() as conn:
        for name in names:
            conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    stores = [open_meta(_pg_url(name)) for name in names]
    try:
        yield stores[0], stores[1]
    finally:
        for store in stores:
            store.dispose()
        with pg_engine.connect() as conn:
            for name in names:
                conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))


def test_a_lock_in_one_schema_leaves_the_same_name_in_another_schema_free(
    two_schemas: tuple[MetaStore, MetaStore],
) -> None:
    a, b = two_schemas
    with named_lock(a, "maintenance") as held:
        assert held
        with named_lock(a, "maintenance", wait=False) as again:
            assert not again  # the same schema: taken
        with named_lock(b, "maintenance", wait=False) as other:
            assert other  # another schema: its own lock
        with named_lock(a, "other-name", wait=False) as other_name:
            assert other_name
