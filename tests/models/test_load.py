"""Loading through the local cache keyed by digest (references and aliases that move are in
tests/contract/test_models.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopml.models import ModelService
from loopml.sdk import Client


@pytest.fixture
def svc(client: Client) -> ModelService:
    return client.models


def _cache_files(client: Client) -> list[Path]:
    root = client.settings.cache_dir / "models"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_second_load_reads_the_local_cache_not_the_blob_store(
    svc: ModelService, client: Client, array_clf: Any, iris: Any
) -> None:
    x, _ = iris
    v = svc.register("m", array_clf)
    assert _cache_files(client) == []
    svc.load("m")
    cached = _cache_files(client)
    assert {p.name for p in cached} == {f.digest for f in v.files}
    # with the blob store gone, a second load still works from the cache
    blobs = Path(client.settings.blobs_url)
    shutil.rmtree(blobs / "packs")
    np.testing.assert_array_equal(svc.load("m").predict(x), array_clf.predict(x))


def test_a_corrupted_cache_file_is_replaced_from_the_blob_store(
    svc: ModelService, client: Client, array_clf: Any, iris: Any
) -> None:
    x, _ = iris
    svc.register("m", array_clf)
    svc.load("m")
    for p in _cache_files(client):
        p.write_bytes(b"garbage" + p.read_bytes()[7:])
    np.testing.assert_array_equal(svc.load("m").predict(x), array_clf.predict(x))
