"""A blob store over each database and each backend (local folder, S3 on a moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.blobs.backend import open_backend
from loopml.blobs.store import BlobStore
from loopml.meta import open_meta


@pytest.fixture(params=["local", "s3"])
def blob_store(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[BlobStore]:
    url = (
        str(tmp_path / "blobs")
        if request.param == "local"
        else request.getfixturevalue("s3_blobs_url")
    )
    meta = open_meta(db_url)
    store = BlobStore(open_backend(url, staging=tmp_path / "staging"), meta, tmp_path / "hc.db")
    yield store
    store.hashcache.close()
    meta.dispose()
