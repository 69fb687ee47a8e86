"""The SDK side of blob transfer (loopml.datasets.push/pull over the service's chunk calls,
counted by a wrapper), over SQLite and PostgreSQL and over a local folder and S3; and the
manifest's JSON form."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from loopml.api.codec import decode, encode
from loopml.api.datasets import Chunk, ChunkRef, Manifest, PushResult
from loopml.api.protocols import Datasets
from loopml.blobs.hashcache import HashCache
from loopml.core.errors import IntegrityError
from loopml.core.settings import load_settings
from loopml.datasets import pull as pull_mod
from loopml.datasets import push as push_mod
from loopml.sdk import Client
from tests.contract.test_transfer import _chunks, _file


@pytest.fixture(params=["local", "s3"])
def client(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Client]:
    blobs = (
        str(tmp_path / "blobs")
        if request.param == "local"
        else request.getfixturevalue("s3_blobs_url")
    )
    c = Client(load_settings(env={}, home=str(tmp_path / "home"), db=db_url, blobs=blobs))
    yield c
    c.close()


def test_a_manifest_round_trips_through_json() -> None:
    data = os.urandom(300_000)
    m = Manifest(
        "folder",
        (_file("a/b.bin", data), _file("empty", b"")),
        "msg",
        {"k": "v"},
        {"tables": {"x.csv": {"rows": 3, "columns": {"a": {"mean": 1.5}}}}},
    )
    back = decode(encode(m), Manifest)
    assert back == m and back.files[0].chunks == m.files[0].chunks
    assert isinstance(back.files[0].chunks, tuple)


class Counting:
    """The datasets service, counting the chunks that cross its transfer calls (and able to
    damage what get_chunks returns, as a faulty network or server would)."""

    def __init__(self, inner: Datasets, damage: bool = False) -> None:
        self.inner = inner
        self.damage = damage
        self.asked: list[str] = []
        self.sent: list[str] = []
        self.fetched: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def missing_chunks(self, digests: Sequence[str]) -> list[str]:
        self.asked.extend(digests)
        return self.inner.missing_chunks(digests)

    def put_chunks(self, chunks: Iterable[Chunk]) -> list[ChunkRef]:
        def counted() -> Iterator[Chunk]:
            for d, data in chunks:
                self.sent.append(d)
                yield d, data

        return self.inner.put_chunks(counted())

    def get_chunks(self, digests: Sequence[str]) -> Iterator[Chunk]:
        for d, data in self.inner.get_chunks(digests):
            self.fetched.append(d)
            if self.damage:
                data = bytes(data[:-1]) + bytes([data[-1] ^ 1])
            yield d, data


def _push_through(client: Client, svc: Counting, name: str, source: Path) -> PushResult:
    cache = HashCache(None)
    return push_mod.push(svc, cache, client.settings.cache_dir / "push", name, source)  # type: ignore[arg-type]


@pytest.mark.parametrize("where", [0.0, 0.5, 0.99])
def test_the_sdk_push_sends_only_the_chunks_of_a_changed_region(
    client: Client, tmp_path: Path, where: float
) -> None:
    src = tmp_path / "data.bin"
    rng = random.Random(int(where * 100))  # fixed bytes: the chunk count cannot drift
    data = bytearray(rng.randbytes(3_000_000))
    src.write_bytes(bytes(data))
    svc = Counting(client.datasets)
    first = _push_through(client, svc, "cdc", src)
    unique = {d for d, _ in _chunks(bytes(data))}
    assert first.created and set(svc.sent) == unique and len(svc.sent) == len(unique)
    at = int(len(data) * where)
    data[at : at + 30_000] = rng.randbytes(30_000)  # 1% of the file
    src.write_bytes(bytes(data))
    svc.sent.clear()
    second = _push_through(client, svc, "cdc", src)
    assert second.created and second.version.version == 2
    # the chunks the edit overlaps, and at most the next one before the cut points agree again
    assert 1 <= len(svc.sent) <= 6, len(svc.sent)
    assert second.bytes_new < 400_000
    out = client.datasets.pull("cdc@2", tmp_path / "out.bin")
    assert out.read_bytes() == bytes(data)


def test_the_sdk_push_of_unchanged_data_sends_nothing_and_creates_nothing(
    client: Client, tmp_path: Path
) -> None:
    src = tmp_path / "d"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_bytes(os.urandom(150_000))
    svc = Counting(client.datasets)
    assert _push_through(client, svc, "same", src).created
    svc.sent.clear()
    again = _push_through(client, svc, "same", src)
    assert (again.created, again.version.version, svc.sent) == (False, 1, [])


def test_pull_fetches_each_chunk_not_at_hand_once_and_writes_verified_files(
    client: Client, tmp_path: Path
) -> None:
    a = os.urandom(400_000)
    files = {"a.bin": a, "copy/a.bin": a, "twice.bin": a + a, "small.txt": b"x" * 10}
    src = tmp_path / "src"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    client.datasets.push("rep", src)
    manifest = client.datasets.get_manifest("rep")
    unique = {c for f in manifest.files for c in f.chunks}
    svc = Counting(client.datasets)
    out = pull_mod.pull(svc, "rep", tmp_path / "out")  # type: ignore[arg-type]
    assert sorted(svc.fetched) == sorted(unique)
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_pull_refuses_chunks_that_come_back_damaged_and_leaves_nothing(
    client: Client, tmp_path: Path, kind: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(200_000))
    client.datasets.push("dmg", src / "f.bin" if kind == "file" else src)
    svc = Counting(client.datasets, damage=True)
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError, match="other bytes"):
        pull_mod.pull(svc, "dmg", dest)  # type: ignore[arg-type]
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".loopml-pull-")]
