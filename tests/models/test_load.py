"""Loading: references, aliases that move, and the local cache keyed by digest."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopml.core.errors import InvalidInput
from loopml.models import ModelService
from loopml.sdk import Client


@pytest.fixture
def svc(client: Client) -> ModelService:
    return client.models


def test_load_by_alias_follows_the_alias_when_it_moves(svc: ModelService, iris: Any) -> None:
    from sklearn.dummy import DummyClassifier

    x, y = iris
    for label in (0, 1, 2):
        svc.register("m", DummyClassifier(strategy="constant", constant=label).fit(x, y))
    svc.set_alias("m", "production", 1)
    assert svc.load("m@production").predict(x[:2]).tolist() == [0, 0]
    svc.set_alias("m", "production", 3)
    loaded = svc.load("m@production")
    assert loaded.version == 3 and loaded.predict(x[:2]).tolist() == [2, 2]
    assert svc.load("m/2").predict(x[:1]).tolist() == [1]
    assert svc.load("m").version == 3


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


def test_reference_syntax_errors_say_what_is_expected(svc: ModelService) -> None:
    with pytest.raises(InvalidInput, match="versions start at 1"):
        svc.load("m@0")
    with pytest.raises(InvalidInput, match="after '/' comes a version number"):
        svc.load("m/production")
