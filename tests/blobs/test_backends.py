"""One contract suite over every blob backend (local folder, S3 via a moto server)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from loopml.blobs.backend import Backend, open_backend
from loopml.core.errors import NotFound, StoreError

MiB = 1 << 20


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return open_backend(str(tmp_path / "blobs"))
    url: str = request.getfixturevalue("s3_blobs_url")
    return open_backend(url, staging=tmp_path / "staging")


def pattern(size: int) -> bytes:
    """Bytes in which every offset is distinguishable, so a wrong slice cannot pass."""
    return os.urandom(size)


def staged(backend: Backend, data: bytes, name: str = "obj") -> Path:
    path = backend.staging_dir() / name
    path.write_bytes(data)
    return path


def test_put_bytes_then_get_has_and_size(backend: Backend) -> None:
    backend.put_bytes("packs/ab/one", b"hello blobs")

    assert backend.has("packs/ab/one")
    assert backend.get("packs/ab/one") == b"hello blobs"
    assert backend.size("packs/ab/one") == len(b"hello blobs")


def test_put_bytes_overwrites_whole_object(backend: Backend) -> None:
    backend.put_bytes("k", b"a much longer first version")
    backend.put_bytes("k", b"short")

    assert backend.get("k") == b"short"


def test_empty_object_round_trips(backend: Backend) -> None:
    backend.put_bytes("empty", b"")

    assert backend.has("empty")
    assert backend.size("empty") == 0
    assert backend.get("empty") == b""


def test_delete_removes_object_and_is_quiet_when_absent(backend: Backend) -> None:
    backend.put_bytes("doomed", b"x")

    backend.delete("doomed")
    backend.delete("doomed")

    assert not backend.has("doomed")


def test_put_file_publishes_and_consumes_staging_file(backend: Backend) -> None:
    data = pattern(100_000)
    path = staged(backend, data)

    backend.put_file("packs/cd/pack", path)

    assert not path.exists()
    assert backend.get("packs/cd/pack") == data


def test_put_file_publishes_a_file_larger_than_one_upload_part(backend: Backend) -> None:
    data = pattern(9 * MiB)  # above boto3's 8 MiB multipart threshold
    path = staged(backend, data)

    backend.put_file("packs/big", path)

    assert not path.exists()
    assert backend.size("packs/big") == len(data)
    assert backend.get("packs/big") == data


def test_read_ranges_returns_exact_slices_in_requested_order(backend: Backend) -> None:
    data = pattern(4 * MiB)
    backend.put_bytes("pack", data)
    ranges = [
        (0, 10),  # start of the object
        (10, 90),  # adjacent to the previous one
        (5_000, 1_000),  # a small gap
        (3 * MiB, 4096),  # far away: its own request on S3
        (200, 50),  # out of offset order
        (len(data) - 7, 7),  # the very end
        (10, 90),  # the same range again
        (123, 0),  # empty
        (100_000, 2 * MiB),  # a large range overlapping nothing else
    ]

    got = list(backend.read_ranges("pack", ranges))

    assert got == [data[o : o + n] for o, n in ranges]


def test_read_ranges_past_the_end_raises_store_error(backend: Backend) -> None:
    backend.put_bytes("short", b"0123456789")

    with pytest.raises(StoreError, match="truncated"):
        list(backend.read_ranges("short", [(5, 10)]))
    with pytest.raises(StoreError, match="truncated"):
        list(backend.read_ranges("short", [(50, 1)]))


def test_iter_lists_keys_with_sizes_under_a_prefix(backend: Backend) -> None:
    backend.put_bytes("packs/ab/p1", b"1")
    backend.put_bytes("packs/cd/p2", b"22")
    backend.put_bytes("packsuffix/p3", b"333")
    backend.put_bytes("index/i1", b"4444")

    assert sorted(backend.iter("packs")) == [("packs/ab/p1", 1), ("packs/cd/p2", 2)]
    assert sorted(backend.iter("packs/cd")) == [("packs/cd/p2", 2)]
    assert sorted(backend.iter()) == [
        ("index/i1", 4),
        ("packs/ab/p1", 1),
        ("packs/cd/p2", 2),
        ("packsuffix/p3", 3),
    ]
    assert list(backend.iter("nothing-here")) == []


def test_missing_key_raises_not_found_naming_the_key(backend: Backend) -> None:
    assert not backend.has("packs/none")
    with pytest.raises(NotFound, match="packs/none"):
        backend.get("packs/none")
    with pytest.raises(NotFound, match="packs/none"):
        backend.size("packs/none")
    with pytest.raises(NotFound, match="packs/none"):
        list(backend.read_ranges("packs/none", [(0, 1)]))


# -- S3 only ------------------------------------------------------------------------------


def test_s3_keys_live_under_the_url_prefix(s3_blobs_url: str) -> None:
    import boto3

    backend = open_backend(s3_blobs_url)
    backend.put_bytes("packs/p", b"x")

    bucket, prefix = s3_blobs_url.removeprefix("s3://").split("/", 1)
    client = boto3.session.Session().client("s3", endpoint_url=os.environ["LOOPML_S3_ENDPOINT_URL"])
    try:
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    finally:
        client.close()
    assert backend.url == s3_blobs_url
    assert keys == [f"{prefix}/packs/p"]
    assert backend.staging_dir().is_dir()
    assert backend.staging_dir().parent == Path(tempfile.gettempdir())


def test_s3_read_ranges_coalesces_nearby_chunks_into_one_get(s3_blobs_url: str) -> None:
    backend: Any = open_backend(s3_blobs_url)
    data = pattern(3 * MiB)
    backend.put_bytes("pack", data)
    gets: list[str] = []

    def count_get(request: Any, **_: Any) -> None:
        value = request.headers["Range"]
        gets.append(value.decode() if isinstance(value, bytes) else value)

    backend.client.meta.events.register("before-send.s3.GetObject", count_get)
    chunks = [(i * 65_536, 65_536) for i in range(16)]  # 1 MiB of consecutive chunks
    far = [(len(data) - 100, 100)]  # more than 1 MiB after the last chunk

    got = list(backend.read_ranges("pack", [*chunks, (70_000, 100), *far]))

    assert got == [data[o : o + n] for o, n in [*chunks, (70_000, 100), *far]]
    assert gets == ["bytes=0-1048575", f"bytes={len(data) - 100}-{len(data) - 1}"]


@pytest.mark.parametrize(
    "operation",
    [
        lambda b: b.has("k"),
        lambda b: b.size("k"),
        lambda b: b.get("k"),
        lambda b: list(b.read_ranges("k", [(0, 1)])),
        lambda b: b.put_bytes("k", b"x"),
        lambda b: b.delete("k"),
        lambda b: list(b.iter()),
    ],
    ids=["has", "size", "get", "read_ranges", "put_bytes", "delete", "iter"],
)
def test_s3_missing_bucket_raises_store_error_saying_what_to_fix(
    s3_blobs_url: str, operation: Any
) -> None:
    backend = open_backend("s3://loopml-no-such-bucket/blobs")

    with pytest.raises(StoreError) as info:
        operation(backend)

    message = str(info.value)
    assert "bucket 'loopml-no-such-bucket' does not exist at endpoint" in message
    assert os.environ["LOOPML_S3_ENDPOINT_URL"] in message
    assert "LOOPML_BLOBS" in message


def test_s3_missing_bucket_put_file_raises_store_error(s3_blobs_url: str, tmp_path: Path) -> None:
    backend = open_backend("s3://loopml-no-such-bucket/blobs", staging=tmp_path)
    path = staged(backend, b"data")

    with pytest.raises(StoreError, match="does not exist"):
        backend.put_file("k", path)


def test_s3_unreachable_endpoint_raises_store_error(
    s3_blobs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LOOPML_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    backend = open_backend(s3_blobs_url)

    with pytest.raises(StoreError, match=r"cannot reach .*LOOPML_S3_ENDPOINT_URL"):
        backend.get("k")


def test_coalesce_merges_near_ranges_and_splits_far_or_oversized_ones() -> None:
    from loopml.blobs.s3 import Span, coalesce

    ranges = [(100, 10), (0, 50), (40, 20), (50 + MiB, 5), (3 * MiB, 10), (150, 0)]

    assert coalesce(ranges) == [
        Span(0, 50 + MiB + 5, (1, 2, 0, 3)),
        Span(3 * MiB, 3 * MiB + 10, (4,)),
    ]
    assert coalesce([(0, 10), (10, 10), (20, 10)], max_span=20) == [
        Span(0, 20, (0, 1)),
        Span(20, 30, (2,)),
    ]
