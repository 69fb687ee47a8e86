"""Blob transfer through the datasets service's chunk calls (missing, put, commit, manifest,
get). Chunks are cut by the client's chunker, as the SDK's push does."""

from __future__ import annotations

import os
import random
from pathlib import Path

import blake3
import pytest

from loopml.api.datasets import Manifest, ManifestFile
from loopml.api.protocols import Datasets
from loopml.blobs.chunker import BytesChunks
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.sdk import Client

pytestmark = [pytest.mark.blobs, pytest.mark.services("datasets")]


def _chunks(data: bytes) -> list[tuple[str, bytes]]:
    return [(d.hex(), bytes(v)) for block in BytesChunks(data) for d, v in block]


def _file(path: str, data: bytes) -> ManifestFile:
    return ManifestFile(
        path, len(data), blake3.blake3(data).hexdigest(), tuple(d for d, _ in _chunks(data))
    )


def _push(ds: Datasets, name: str, files: dict[str, bytes], kind: str = "folder") -> int:
    """Push by the protocol's calls only; returns how many chunks were sent."""
    sent = 0
    for data in files.values():
        chunks = _chunks(data)
        missing = set(ds.missing_chunks([d for d, _ in chunks]))
        sent += len(ds.put_chunks((d, b) for d, b in chunks if d in missing))
    manifest = Manifest(kind, tuple(_file(p, d) for p, d in files.items()))
    ds.commit_version(name, manifest)
    return sent


def test_a_second_push_of_a_slightly_changed_file_sends_only_its_new_chunks(
    client: Client,
) -> None:
    ds = client.datasets
    rng = random.Random(7)  # fixed bytes: the chunk count cannot drift
    data = bytearray(rng.randbytes(4_000_000))
    first = _push(ds, "big", {"f.bin": bytes(data)}, kind="file")
    assert first == len({d for d, _ in _chunks(bytes(data))})
    data[2_000_000:2_000_100] = rng.randbytes(100)  # change well under 1% in the middle
    second = _push(ds, "big", {"f.bin": bytes(data)}, kind="file")
    assert 1 <= second <= 3, second
    assert ds.show("big").version == 2
    # unchanged content: nothing is missing, nothing sent, the version is the same
    assert _push(ds, "big", {"f.bin": bytes(data)}, kind="file") == 0
    assert ds.show("big").version == 2


def test_missing_chunks_names_each_absent_digest_once_in_order(client: Client) -> None:
    ds = client.datasets
    stored = _chunks(os.urandom(200_000))
    ds.put_chunks(stored)
    absent = [blake3.blake3(os.urandom(10)).hexdigest() for _ in range(3)]
    ask = [absent[1], stored[0][0], absent[0], absent[1], absent[2]]
    assert ds.missing_chunks(ask) == [absent[1], absent[0], absent[2]]
    assert ds.missing_chunks([]) == []


@pytest.mark.parametrize(
    "bad", ["", "xyz", "AB" * 32, "ab" * 31 + "aB", "ab" * 31, "ab" * 32 + " ", " " + "ab" * 32]
)
def test_missing_chunks_refuses_what_is_not_a_digest(client: Client, bad: object) -> None:
    with pytest.raises(InvalidInput, match="BLAKE3 digest"):
        client.datasets.missing_chunks([bad])  # type: ignore[list-item]


@pytest.mark.local_only(
    "known difference: over the wire the request type check answers first ('not a valid "
    "Digests: Expected `str`, got `int`'), not the service's message; both are InvalidInput"
)
def test_missing_chunks_refuses_a_digest_that_is_not_a_string(client: Client) -> None:
    with pytest.raises(InvalidInput, match="BLAKE3 digest"):
        client.datasets.missing_chunks([7])  # type: ignore[list-item]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_chunk_whose_bytes_do_not_match_its_digest_is_refused_and_nothing_recorded(
    client: Client, where: str
) -> None:
    ds = client.datasets
    good = _chunks(os.urandom(600_000))
    assert len(good) >= 3
    i = {"first": 0, "middle": len(good) // 2, "last": len(good) - 1}[where]
    bad = list(good)
    bad[i] = (good[i][0], good[i][1][:-1] + bytes([good[i][1][-1] ^ 1]))
    with pytest.raises(InvalidInput, match=f"chunk {good[i][0]}.*do not match"):
        ds.put_chunks(bad)
    assert ds.missing_chunks([d for d, _ in good]) == [d for d, _ in good]
    # the same chunks with their real bytes go in afterwards
    assert [r.digest for r in ds.put_chunks(good)] == [d for d, _ in good]
    assert ds.missing_chunks([d for d, _ in good]) == []


def test_put_chunks_skips_chunks_already_stored(client: Client) -> None:
    ds = client.datasets
    chunks = _chunks(os.urandom(400_000))
    first = ds.put_chunks(chunks[:2])
    again = ds.put_chunks(chunks + chunks[:1])
    assert [r.digest for r in first] == [d for d, _ in chunks[:2]]
    assert [r.digest for r in again] == [d for d, _ in chunks[2:]]
    assert [r.size for r in again] == [len(b) for _, b in chunks[2:]]


def test_the_same_chunks_put_twice_are_new_once(client: Client) -> None:
    # The second call writes a pack identical to the first, with the same name.
    ds = client.datasets
    chunks = _chunks(os.urandom(400_000))
    assert [r.digest for r in ds.put_chunks(chunks)] == [d for d, _ in chunks]
    assert ds.put_chunks(chunks) == []
    assert ds.put_chunks(chunks[1:] + chunks[:1]) == []
    assert ds.missing_chunks([d for d, _ in chunks]) == []


def test_commit_naming_an_absent_chunk_is_refused_and_records_nothing(client: Client) -> None:
    ds = client.datasets
    for skip in ("first", "last"):
        data = os.urandom(500_000)
        chunks = _chunks(data)
        i = 0 if skip == "first" else len(chunks) - 1
        ds.put_chunks(c for j, c in enumerate(chunks) if j != i)
        with pytest.raises(Conflict, match=f"not stored.*{chunks[i][0]}"):
            ds.commit_version("gap", Manifest("file", (_file("f.bin", data),)))
        with pytest.raises(NotFound):
            ds.show("gap")
    ds.put_chunks(chunks)
    assert ds.commit_version("gap", Manifest("file", (_file("f.bin", data),))).created


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (Manifest("blob", ()), "kind 'blob'"),
        (Manifest("folder", ()), "no files"),
        (Manifest("file", (ManifestFile("../x", 0, "0" * 64, ()),)), "leaves its version"),
        (Manifest("file", (ManifestFile("a//b", 0, "0" * 64, ()),)), "normal form"),
        (Manifest("file", (ManifestFile("a", 1, "zz", ("0" * 64,)),)), "valid digest"),
        (Manifest("file", (ManifestFile("a", 5, "0" * 64, ()),)), "no chunks"),
        (
            Manifest("folder", (ManifestFile("a", 0, "0" * 64, ()),) * 2),
            "twice",
        ),
        (
            Manifest(
                "file", (ManifestFile("a", 0, "0" * 64, ()), ManifestFile("b", 0, "1" * 64, ()))
            ),
            "exactly one file",
        ),
    ],
)
def test_commit_refuses_a_malformed_manifest(
    client: Client, manifest: Manifest, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.datasets.commit_version("bad", manifest)
    assert client.datasets.list() == []


def test_commit_refuses_a_file_whose_chunks_do_not_add_up_to_its_size(client: Client) -> None:
    ds = client.datasets
    data = os.urandom(300_000)
    ds.put_chunks(_chunks(data))
    f = _file("f.bin", data)
    lying = ManifestFile(f.path, f.size + 1, f.digest, f.chunks)
    with pytest.raises(InvalidInput, match="add up to"):
        ds.commit_version("sz", Manifest("file", (lying,)))
    assert ds.list() == []


def test_commit_of_identical_content_returns_the_existing_version(client: Client) -> None:
    ds = client.datasets
    data = os.urandom(100_000)
    ds.put_chunks(_chunks(data))
    m = Manifest("file", (_file("f.bin", data),), "one", {"a": "1"})
    first = ds.commit_version("same", m)
    again = ds.commit_version("same", Manifest("file", m.files, "two"))
    assert (first.created, again.created) == (True, False)
    assert again.version.version == first.version.version == 1
    assert ds.show("same").message == "one"


def test_the_manifest_of_a_pushed_version_names_every_chunk_and_its_files(
    client: Client, tmp_path: Path
) -> None:
    ds = client.datasets
    files = {"a.bin": os.urandom(250_000), "sub/b.txt": b"hello", "empty": b""}
    src = tmp_path / "src"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    ds.push("m", src, message="hi", meta={"k": "v"})
    m = ds.get_manifest("m@1")
    assert (m.kind, m.message, m.meta) == ("folder", "hi", {"k": "v"})
    assert {f.path: f for f in m.files} == {p: _file(p, d) for p, d in files.items()}
    with pytest.raises(NotFound):
        ds.get_manifest("m@2")


def test_get_chunks_returns_verified_bytes_in_the_order_asked(client: Client) -> None:
    ds = client.datasets
    chunks = _chunks(os.urandom(500_000))
    ds.put_chunks(chunks)
    order = [chunks[2], chunks[0], chunks[-1], chunks[0]]
    assert list(ds.get_chunks([d for d, _ in order])) == order
    absent = blake3.blake3(b"nope").hexdigest()
    with pytest.raises(NotFound, match=absent):
        list(ds.get_chunks([chunks[0][0], absent]))
