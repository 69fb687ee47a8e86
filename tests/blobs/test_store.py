"""The content-addressed store over every (database, backend) pair."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.blobs.fsck import fsck
from loopml.blobs.gc import gc
from loopml.blobs.packs import pack_key, parse_footer
from loopml.blobs.store import BlobStore
from loopml.core.errors import IntegrityError
from loopml.meta.tables import chunks, file_objects, packs


def _put(store: BlobStore, data: bytes) -> str:
    ingest = store.ingest()
    stored = ingest.add_bytes(data)
    ingest.finish()
    with store.meta.write() as conn:
        ingest.commit(conn)
    ingest.remember_hashes()  # ends the write session
    return stored.digest


def _count(store: BlobStore, table: sa.Table) -> int:
    with store.meta.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("size", [0, 1, 70_000, 3_000_000])
def test_bytes_round_trip_verified(blob_store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    digest = _put(blob_store, data)
    assert blob_store.read_bytes(digest) == data


def test_storing_identical_content_twice_adds_nothing(blob_store: BlobStore) -> None:
    data = os.urandom(1_000_000)
    _put(blob_store, data)
    before = (_count(blob_store, packs), _count(blob_store, chunks))
    ingest = blob_store.ingest()
    ingest.add_bytes(data)
    ingest.finish()
    assert ingest.bytes_new == 0
    with blob_store.meta.write() as conn:
        ingest.commit(conn)
    ingest.remember_hashes()
    assert (_count(blob_store, packs), _count(blob_store, chunks)) == before


def test_an_append_stores_only_the_chunks_it_touched(blob_store: BlobStore) -> None:
    base = os.urandom(4_000_000)
    _put(blob_store, base)
    appended = os.urandom(150_000)
    ingest = blob_store.ingest()
    ingest.add_bytes(base + appended)
    ingest.finish()
    ingest.abort()
    # the new tail plus at most the one (max 256 KiB) chunk the old tail was cut into
    assert ingest.bytes_new <= len(appended) + 256 * 1024


def test_chunks_are_packed_not_stored_one_object_each(blob_store: BlobStore) -> None:
    _put(blob_store, os.urandom(6_000_000))
    assert _count(blob_store, chunks) > 40
    objects = list(blob_store.backend.iter("packs/"))
    assert len(objects) == 1
    key, size = objects[0]
    tail = b"".join(blob_store.backend.read_ranges(key, [(0, size)]))
    assert len(parse_footer(tail)) == _count(blob_store, chunks)


def test_a_corrupted_pack_is_an_error_that_names_the_object(blob_store: BlobStore) -> None:
    data = os.urandom(500_000)
    digest = _put(blob_store, data)
    with blob_store.meta.read() as conn:
        pack_id = conn.execute(sa.select(packs.c.id)).scalar_one()
    key = pack_key(pack_id)
    raw = bytearray(blob_store.backend.get(key))
    raw[1000] ^= 0xFF
    blob_store.backend.put_bytes(key, bytes(raw))
    with pytest.raises(IntegrityError, match=pack_id):
        blob_store.read_bytes(digest)
    report = fsck(blob_store)
    assert not report.ok
    assert any("corrupted" in p and pack_id in p for p in report.problems)


def test_fsck_passes_on_a_healthy_store(blob_store: BlobStore) -> None:
    _put(blob_store, os.urandom(800_000))
    report = fsck(blob_store)
    assert report.ok, report.problems
    assert report.chunks == _count(blob_store, chunks)


def test_an_aborted_ingest_leaves_no_rows_and_gc_removes_its_packs(blob_store: BlobStore) -> None:
    ingest = blob_store.ingest()
    ingest.add_bytes(os.urandom(300_000))
    ingest.finish()  # packs are durable, but nothing was committed
    ingest.abort()
    assert _count(blob_store, packs) == 0 and _count(blob_store, file_objects) == 0
    assert len(list(blob_store.backend.iter("packs/"))) == 1
    report = gc(blob_store, grace_s=0)
    assert report.orphans_deleted == 1
    assert list(blob_store.backend.iter("packs/")) == []


def test_gc_keeps_young_orphans_that_may_belong_to_a_running_push(blob_store: BlobStore) -> None:
    ingest = blob_store.ingest()
    ingest.add_bytes(os.urandom(100_000))
    ingest.finish()
    ingest.abort()  # interrupted: its pack is durable and unindexed
    assert gc(blob_store, grace_s=3600).orphans_deleted == 0
    assert len(list(blob_store.backend.iter("packs/"))) == 1


def test_gc_drops_files_no_version_references(blob_store: BlobStore) -> None:
    _put(blob_store, os.urandom(200_000))
    report = gc(blob_store, grace_s=0)
    assert report.files_removed == 1 and report.packs_deleted == 1
    assert _count(blob_store, chunks) == 0
    assert list(blob_store.backend.iter("packs/")) == []


def test_commit_refuses_when_gc_removed_reused_chunks_meanwhile(blob_store: BlobStore) -> None:
    from loopml.core.errors import Conflict

    data = os.urandom(400_000)
    _put(blob_store, data)  # stored but referenced by no version: garbage
    ingest = blob_store.ingest()
    ingest.add_bytes(data + b"tail")  # reuses the stored chunks
    ingest.finish()
    # A session that let go of the maintenance lock early (as a loopml without it did) is
    # still refused rather than left pointing at removed chunks.
    ingest.release()
    assert gc(blob_store, grace_s=3600).files_removed == 1
    with pytest.raises(Conflict, match="push again"), blob_store.meta.write() as conn:
        ingest.commit(conn)
    assert _count(blob_store, file_objects) == 0


def test_gc_repacks_a_mostly_dead_pack_and_keeps_live_data_readable(
    blob_store: BlobStore,
) -> None:
    from loopml.meta.tables import dataset_files, dataset_versions, datasets

    live = os.urandom(100_000)
    ingest = blob_store.ingest()
    keep = ingest.add_bytes(live)
    ingest.add_bytes(os.urandom(900_000))  # same pack, referenced by nothing
    ingest.finish()
    with blob_store.meta.write() as conn:
        ingest.commit(conn)
        ds = conn.execute(
            datasets.insert().values(name="d", created_at=0.0, created_by="t")
        ).inserted_primary_key[0]
        vid = conn.execute(
            dataset_versions.insert().values(
                dataset_id=ds,
                version=1,
                content_digest="x",
                kind="file",
                meta={},
                stats={},
                file_count=1,
                total_bytes=len(live),
                created_at=0.0,
                created_by="t",
            )
        ).inserted_primary_key[0]
        conn.execute(
            dataset_files.insert().values(
                version_id=vid, path="f", file_digest=keep.digest, size=len(live)
            )
        )
    ingest.remember_hashes()
    report = gc(blob_store, grace_s=3600)
    assert (report.files_removed, report.packs_repacked, report.packs_deleted) == (1, 1, 0)
    assert report.bytes_freed > 800_000
    assert blob_store.read_bytes(keep.digest) == live
    assert fsck(blob_store).ok
    objects = list(blob_store.backend.iter("packs/"))
    assert len(objects) == 1 and objects[0][1] < 200_000


def test_pack_writer_splits_runs_at_the_target_size_and_keeps_every_chunk(
    blob_store: BlobStore,
) -> None:
    from loopml.blobs.chunker import digest_bytes
    from loopml.blobs.packs import PackWriter

    pieces = [os.urandom(100 + i % 700) for i in range(2500)]  # more than one writev's worth
    writer = PackWriter(blob_store.backend, target_size=300_000)
    writer.add_many([(digest_bytes(p), memoryview(p)) for p in pieces[:2000]])
    for p in pieces[2000:]:
        writer.add(digest_bytes(p), p)
    infos = writer.finish()
    assert len(infos) == -(-sum(map(len, pieces)) // 300_000) or len(infos) > 1
    seen = {}
    for info in infos:
        assert info.size - sum(e.length for e in info.entries) > 0  # the footer follows
        body = b"".join(blob_store.backend.read_ranges(pack_key(info.id), [(0, info.size)]))
        assert parse_footer(body) == info.entries
        for e in info.entries:
            seen[e.digest] = body[e.offset : e.offset + e.length]
        assert sum(e.length for e in info.entries[:-1]) < 300_000  # sealed once it passed it
    assert [seen[digest_bytes(p)] for p in pieces] == pieces


def test_files_chunked_by_two_threads_each_read_back_whole(
    blob_store: BlobStore, tmp_path: Path
) -> None:
    files = []
    for i in range(6):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(os.urandom(1_500_000 + i * 1000))
        files.append(p)
    ingest = blob_store.ingest()
    stored = ingest.add_paths(files)
    ingest.finish()
    with blob_store.meta.write() as conn:
        ingest.commit(conn)
    ingest.remember_hashes()
    for p, s in zip(files, stored, strict=True):
        assert blob_store.read_bytes(s.digest) == p.read_bytes()
    # threads share packs instead of opening one each per call
    assert len(list(blob_store.backend.iter("packs/"))) <= 2


def test_the_hash_cache_can_be_closed_by_another_thread(tmp_path: Path) -> None:
    import threading

    from loopml.blobs.hashcache import HashCache

    f = tmp_path / "old.bin"
    f.write_bytes(b"x")
    os.utime(f, (1, 1))
    cache = HashCache(tmp_path / "cache.db")
    cache.put_many([(str(f), f.stat(), "d" * 64)])
    seen: list[str | None] = []
    t = threading.Thread(target=lambda: (seen.append(cache.get(str(f), f.stat())), cache.close()))
    t.start()
    t.join()
    assert seen == ["d" * 64]
    assert cache.get(str(f), f.stat()) is None  # closed: every lookup misses


def test_the_hash_cache_names_its_chunk_lists_after_the_chunking_parameters() -> None:
    from loopml.blobs import chunker, hashcache

    assert hashcache.DIGEST_SIZE == chunker.DIGEST_SIZE
    params = (chunker.AVG_SIZE, chunker.MIN_SIZE, chunker.MAX_SIZE)
    assert "chunk_lists_{}_{}_{}".format(*params) == hashcache.CHUNK_LISTS


def test_direct_and_buffered_pack_writes_give_the_same_packs(tmp_path: Path) -> None:
    from loopml.blobs.backend import LocalBackend
    from loopml.blobs.chunker import digest_bytes
    from loopml.blobs.packs import BLOCK_SIZE, PackWriter

    class Buffered(LocalBackend):
        direct_writes = False

    # sizes around the 4 KiB alignment and the write block, packs that end mid-block
    sizes = [1, 4095, 4096, 4097, BLOCK_SIZE - 5, BLOCK_SIZE + 7, 100_000, 3, 2 * BLOCK_SIZE]
    pieces = [os.urandom(n) for n in sizes]
    written = {}
    for name, backend in (
        ("direct", LocalBackend(tmp_path / "direct")),
        ("buffered", Buffered(tmp_path / "buffered")),
    ):
        writer = PackWriter(backend, target_size=BLOCK_SIZE + 10_000)
        for p in pieces:
            writer.add(digest_bytes(p), memoryview(p))
        infos = writer.finish()
        written[name] = [(i.id, (backend.root / pack_key(i.id)).read_bytes()) for i in infos]
        assert list(backend.staging_dir().iterdir()) == []
        for info, (_id, body) in zip(infos, written[name], strict=True):
            assert len(body) == info.size and parse_footer(body) == info.entries
    assert len(written["direct"]) > 2
    assert written["direct"] == written["buffered"]
    chunks_back = [
        body[e.offset : e.offset + e.length]
        for _id, body in written["direct"]
        for e in parse_footer(body)
    ]
    assert chunks_back == pieces


def test_a_pack_stores_the_bytes_of_any_buffer_it_is_given(tmp_path: Path) -> None:
    """Chunks may come as bytes, a bytearray, or a view of another item size or shape: the
    pack holds their bytes, and each entry their length in bytes."""
    from loopml.blobs.backend import LocalBackend
    from loopml.blobs.chunker import digest_bytes
    from loopml.blobs.packs import PackWriter

    raw = [os.urandom(4096 * 3), os.urandom(800), os.urandom(4000), os.urandom(64)]
    given = [
        bytearray(raw[0]),
        memoryview(raw[1]).cast("I"),
        memoryview(raw[2]).cast("B", (40, 100)),
        raw[3],
    ]
    backend = LocalBackend(tmp_path / "store")
    writer = PackWriter(backend)
    for r, g in zip(raw, given, strict=True):
        writer.add(digest_bytes(r), g)
    (info,) = writer.finish()
    body = (backend.root / pack_key(info.id)).read_bytes()
    assert [e.length for e in info.entries] == [len(r) for r in raw]
    assert [body[e.offset : e.offset + e.length] for e in info.entries] == raw
