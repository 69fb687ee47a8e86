"""The server keeps no state of its own: two server processes over one PostgreSQL database and
one S3 bucket serve the same data, whichever one a client talks to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from loopml.connect import connect
from loopml.core.settings import Settings, load_settings
from tests.plugins.db import _pg_url
from tests.plugins.server import start_server, store_env

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def shared(pg_engine: sa.Engine, s3_blobs_url: str, tmp_path: Path) -> Iterator[Settings]:
    """One fresh PostgreSQL schema and one fresh bucket, as two servers would share them."""
    schema = "t_" + uuid.uuid4().hex[:12]
    with pg_engine.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield load_settings(
            env={}, home=str(tmp_path / "server-home"), db=_pg_url(schema), blobs=s3_blobs_url
        )
    finally:
        with pg_engine.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


def test_two_servers_on_one_database_and_bucket_serve_the_same_data(
    shared: Settings, tmp_path: Path
) -> None:
    env = store_env(shared)
    one = start_server(env, tmp_path / "one.log", "--no-controller")
    two = start_server(env, tmp_path / "two.log", "--no-controller")
    first = connect(load_settings(env={}, home=str(tmp_path / "a"), uri=one.url))
    second = connect(load_settings(env={}, home=str(tmp_path / "b"), uri=two.url))
    try:
        frame = pd.DataFrame({"x": range(1000), "y": [i % 7 for i in range(1000)]})
        pushed = first.datasets.push("shared", frame, message="through one")
        seen = second.datasets.show("shared@1")
        assert seen.content_digest == pushed.version.content_digest
        pd.testing.assert_frame_equal(second.datasets.load("shared@1"), frame)

        second.runs.create_experiment("exp")
        assert [e.name for e in first.runs.list_experiments()] == ["exp"]

        etags = []
        for server in (one, two):
            with httpx.Client(base_url=server.url + "/api/v1") as http:
                answer = http.get("/datasets/shared/versions/1")
                assert answer.status_code == 200
                etags.append(answer.headers["etag"])
        assert etags[0] == etags[1]  # the same immutable object, whichever server answers
    finally:
        first.close()
        second.close()
        one.stop()
        two.stop()
