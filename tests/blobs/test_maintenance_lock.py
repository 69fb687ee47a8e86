"""gc and writes exclude each other through the blob store's maintenance lock, and reads
survive a repack; on every database. Writers run in spawned processes that share nothing with
the test but the stores."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.blobs.backend import Backend
from loopml.blobs.fsck import fsck
from loopml.blobs.gc import GcReport, gc
from loopml.blobs.packs import pack_key
from loopml.blobs.store import MAINTENANCE_LOCK, BlobStore
from loopml.core.errors import NotFound
from loopml.core.settings import Settings, load_settings
from loopml.meta.engine import MetaStore
from loopml.meta.locks import lock_digest, named_lock
from loopml.meta.tables import dataset_files, dataset_versions, datasets
from loopml.sdk import Client

SPAWN = multiprocessing.get_context("spawn")
DEADLINE_S = 120.0
Where = tuple[str, str, str]


# ---------- helpers ----------
def _where(settings: Settings) -> Where:
    return str(settings.home), settings.db_url, settings.blobs_url


def _open(where: Where) -> Client:
    home, db, blobs = where
    return Client(load_settings(env={}, home=home, db=db, blobs=blobs))


def _recv(pipe: Connection) -> Any:
    assert pipe.poll(DEADLINE_S), "the child process said nothing in time"
    return pipe.recv()


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def _lock_is_free(meta: MetaStore) -> bool:
    with named_lock(meta, MAINTENANCE_LOCK, wait=False) as held:
        return held


def _lock_waiters(meta: MetaStore) -> int:
    """How many holders wait for the maintenance lock, as the OS or the server sees it."""
    digest = lock_digest(meta, MAINTENANCE_LOCK)
    if meta.dialect == "postgresql":
        key = int.from_bytes(digest, "big")
        with meta.read() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND NOT granted AND classid::bigint = :hi AND objid::bigint = :lo"
                    ),
                    {"hi": key >> 32, "lo": key & 0xFFFF_FFFF},
                ).scalar_one()
            )
    database = meta.engine.url.database
    assert database
    inode = (Path(database + ".locks") / f"{digest.hex()}.lock").stat().st_ino
    with open("/proc/locks") as f:
        return sum(
            1 for line in f if " -> FLOCK " in line and line.split()[-3].endswith(f":{inode}")
        )


def _put_garbage(store: BlobStore, data: bytes) -> str:
    """Store ``data`` as a file object no version references."""
    with store.ingest() as ingest:
        stored = ingest.add_bytes(data)
        ingest.finish()
        with store.meta.write() as conn:
            ingest.commit(conn)
    return stored.digest


def _reference(conn: sa.Connection, digest: str, size: int) -> None:
    """Make a dataset version refer to file ``digest``."""
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
            total_bytes=size,
            created_at=0.0,
            created_by="t",
        )
    ).inserted_primary_key[0]
    conn.execute(
        dataset_files.insert().values(version_id=vid, path="f", file_digest=digest, size=size)
    )


# ---------- child processes ----------
def _push(where: Where, name: str, path: str, pipe: Connection, pause: bool) -> None:
    """Push ``path`` as dataset ``name``; with ``pause``, stop once its ingest holds the lock
    and the file is chunked (said as "ingesting") until told "go"."""
    try:
        client = _open(where)
        try:

            def progress(_n: int) -> None:
                if pause:
                    pipe.send("ingesting")
                    assert pipe.recv() == "go"

            result = client.datasets.push(name, path, progress=progress)
        finally:
            client.close()
        pipe.send(("pushed", result.version.version, result.created))
    except BaseException as exc:
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise


def _hold_an_ingest(where: Where, pipe: Connection) -> None:
    client = _open(where)
    ingest = client.stores.blobs.ingest()
    ingest.add_bytes(os.urandom(10_000))
    pipe.send("holding")
    pipe.recv()  # never sent: the test kills this process


class _PausingBackend:
    """A backend whose pack listing (gc's last step, taken under the lock) waits until told."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.listing = threading.Event()
        self.resume = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def iter(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        self.listing.set()
        assert self.resume.wait(DEADLINE_S)
        return self.inner.iter(prefix)


# ---------- tests ----------
def test_gc_waits_for_a_running_push_and_keeps_what_it_stored(
    client: Client, tmp_path: Path
) -> None:
    blobs = client.stores.blobs
    data = os.urandom(600_000)
    garbage = _put_garbage(blobs, data)  # the push below reuses its chunks
    src = tmp_path / "src.bin"
    src.write_bytes(data + b"tail")
    parent, child = SPAWN.Pipe()
    proc = SPAWN.Process(target=_push, args=(_where(client.settings), "d", str(src), child, True))
    proc.start()
    try:
        assert _recv(parent) == "ingesting"
        waiting = threading.Event()
        reports: list[GcReport] = []
        collector = threading.Thread(
            target=lambda: reports.append(gc(blobs, grace_s=0, on_wait=waiting.set))
        )
        collector.start()
        assert waiting.wait(DEADLINE_S)
        # It cannot collect before the push lets go of the lock, so it is still there.
        assert collector.is_alive() and not reports
        parent.send("go")
        assert _recv(parent) == ("pushed", 1, True)  # committed: no Conflict
        collector.join(DEADLINE_S)
        assert not collector.is_alive()
    finally:
        proc.join(DEADLINE_S)
    assert proc.exitcode == 0
    # Only the unreferenced file object went; the chunks the new version reuses stayed.
    assert reports[0].files_removed == 1
    assert blobs.known_files([garbage]) == {}
    out = client.datasets.pull("d", tmp_path / "out.bin")
    assert Path(out).read_bytes() == data + b"tail"
    assert fsck(blobs).ok


def test_a_push_started_while_gc_runs_waits_for_it_then_succeeds(
    client: Client, tmp_path: Path
) -> None:
    meta = client.stores.meta
    pausing = _PausingBackend(client.stores.blobs.backend)
    store = BlobStore(pausing, meta)  # type: ignore[arg-type]
    reports: list[GcReport] = []
    collector = threading.Thread(target=lambda: reports.append(gc(store, grace_s=0)))
    collector.start()
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300_000))
    parent, child = SPAWN.Pipe()
    proc = SPAWN.Process(target=_push, args=(_where(client.settings), "d", str(src), child, False))
    try:
        assert pausing.listing.wait(DEADLINE_S)  # gc is collecting, under the lock
        proc.start()
        _until(lambda: _lock_waiters(meta) == 1, "the push waits for the lock")
        assert not parent.poll()
        pausing.resume.set()
        collector.join(DEADLINE_S)
        assert reports and not collector.is_alive()
        assert _recv(parent) == ("pushed", 1, True)
    finally:
        pausing.resume.set()
        collector.join(DEADLINE_S)
        if proc.pid is not None:
            proc.join(DEADLINE_S)
    assert proc.exitcode == 0
    out = client.datasets.pull("d", tmp_path / "out.bin")
    assert Path(out).read_bytes() == src.read_bytes()


def test_a_killed_writer_does_not_block_gc(client: Client) -> None:
    meta = client.stores.meta
    parent, child = SPAWN.Pipe()
    proc = SPAWN.Process(target=_hold_an_ingest, args=(_where(client.settings), child))
    proc.start()
    try:
        assert _recv(parent) == "holding"
        assert not _lock_is_free(meta)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        proc.join(DEADLINE_S)
    assert proc.exitcode == -signal.SIGKILL
    # The OS (flock) or the server (its connection dropped) lets go of it.
    _until(lambda: _lock_is_free(meta), "the dead writer's lock is released")
    report = gc(client.stores.blobs, grace_s=0)
    assert report.orphans_deleted <= 1  # its pack, if it had published one


def test_a_read_racing_a_repack_finds_the_moved_chunks(blob_store: BlobStore) -> None:
    live = os.urandom(400_000)
    with blob_store.ingest() as ingest:
        keep = ingest.add_bytes(live)
        ingest.add_bytes(os.urandom(1_500_000))  # same pack, referenced by nothing
        ingest.finish()
        with blob_store.meta.write() as conn:
            ingest.commit(conn)
            _reference(conn, keep.digest, len(live))
    # A reader located the chunks (what iter_file does first), then gc repacked their pack.
    location = blob_store.locate_file(keep.digest)
    old = {pack_id for pack_id, _o, _n in location.where.values()}
    report = gc(blob_store, grace_s=3600)
    assert (report.files_removed, report.packs_repacked) == (1, 1)
    assert not any(blob_store.backend.has(pack_key(p)) for p in old)
    assert b"".join(blob_store.read_located(location)) == live
    assert blob_store.read_bytes(keep.digest) == live


def test_a_read_of_a_pack_that_is_gone_for_good_still_fails(blob_store: BlobStore) -> None:
    digest = _put_garbage(blob_store, os.urandom(200_000))
    location = blob_store.locate_file(digest)
    for pack_id, _o, _n in location.where.values():
        blob_store.backend.delete(pack_key(pack_id))
    with pytest.raises(NotFound):
        b"".join(blob_store.read_located(location))
