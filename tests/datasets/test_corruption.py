"""Faults of the local blob store under the dataset registry: a damaged pack file on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopml.sdk import Client
from tests.contract.test_datasets import _folder


def test_corrupted_blob_fails_pull_and_leaves_nothing(client: Client, tmp_path: Path) -> None:
    src = _folder(tmp_path / "d", {"a.bin": os.urandom(300_000)})
    client.datasets.push("c", src)
    packs = list((Path(client.settings.blobs_url) / "packs").rglob("*"))
    pack = next(p for p in packs if p.is_file())
    raw = bytearray(pack.read_bytes())
    raw[5000] ^= 1
    pack.write_bytes(bytes(raw))
    from loopml.core.errors import IntegrityError

    with pytest.raises(IntegrityError, match=pack.name):
        client.datasets.pull("c", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
