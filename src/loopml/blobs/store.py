"""Content-addressed file storage: files → chunks (FastCDC + BLAKE3) → packs on a backend,
with the chunk index in the metadata store.

A write has two phases. :class:`Ingest` chunks files and publishes packs of new chunks to the
backend (durable before anything refers to them); :meth:`Ingest.commit` then records packs,
chunks and file objects on the caller's transaction, next to the rows that reference them. A
crash between the two leaves only orphan packs, which ``gc`` removes; never a reference to a
missing chunk.

Every write session holds the blob store's maintenance lock shared from its creation to its
end, and ``gc`` holds it exclusively, so a collection never removes data a running write reuses.
A read needs no lock: when a ``gc`` repack moved chunks under it, it locates them again.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import blake3
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.blobs.backend import Backend
from loopml.blobs.chunker import BUFFER_SIZE, DIGEST_SIZE, BytesChunks, FileChunks, workers
from loopml.blobs.hashcache import HashCache
from loopml.blobs.packs import PackInfo, PackWriter, pack_key
from loopml.core.errors import Conflict, IntegrityError, NotFound
from loopml.core.paths import write_replacing
from loopml.meta.engine import MetaStore
from loopml.meta.locks import named_lock
from loopml.meta.rows import insert_ignore
from loopml.meta.tables import chunks, file_objects, packs

# Held shared by every Ingest, exclusively by gc.
MAINTENANCE_LOCK = "blobs.maintenance"
_IN_BATCH = 500
_WORKERS = 2


@dataclass(frozen=True)
class StoredFile:
    digest: str
    size: int


@dataclass(frozen=True)
class FileLocation:
    """Where a stored file's chunks were, in order, when it was located."""

    digest: str
    size: int
    order: tuple[bytes, ...]
    where: dict[bytes, tuple[str, int, int]]


def _batches(items: list[bytes] | list[str], n: int = _IN_BATCH) -> Iterator[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), n):
        yield items[i : i + n]


def known_chunks(conn: Connection, digests: list[bytes]) -> set[bytes]:
    """The digests among ``digests`` that the chunk index holds."""
    return {d for d, _n in _chunk_rows(conn, "", digests)}


def chunk_lengths(conn: Connection, digests: list[bytes]) -> dict[bytes, int]:
    """Digest → length of the chunks among ``digests`` that the chunk index holds."""
    return {d: int(n) for d, n in _chunk_rows(conn, ', "length"', digests)}


def chunk_packs(conn: Connection, digests: list[bytes]) -> Iterator[tuple[bytes, str]]:
    """(digest, pack id) of the chunks among ``digests`` that the chunk index holds."""
    return _chunk_rows(conn, ', "pack_id"', digests)


def _chunk_rows(conn: Connection, more: str, digests: list[bytes]) -> Iterator[tuple[bytes, Any]]:
    # Plain driver queries: a push asks about every chunk it reads and records them all, and
    # SQLAlchemy's per-value processing of an expanding IN cost more than the query itself.
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    head = f'SELECT "digest"{more} FROM "{chunks.name}" WHERE "digest" IN ('
    for batch in _batches(digests):
        sql = head + ", ".join([mark] * len(batch)) + ")"
        for row in conn.exec_driver_sql(sql, tuple(batch)):
            yield bytes(row[0]), row[1] if more else None


class BlobStore:
    def __init__(self, backend: Backend, meta: MetaStore, cache_path: Path | None = None):
        self.backend = backend
        self.meta = meta
        self.hashcache = HashCache(cache_path)
        self._gc_off_depth = 0
        self._gc_off_lock = threading.Lock()

    @contextlib.contextmanager
    def gc_off(self) -> Iterator[None]:
        """Hold the maintenance lock shared for the block, once per store however deeply
        nested: a second shared request from this process would queue behind a waiting
        ``gc`` that itself waits for the first, and never be granted."""
        with self._gc_off_lock:
            nested = self._gc_off_depth > 0
            if nested:
                self._gc_off_depth += 1
        if nested:
            try:
                yield
            finally:
                with self._gc_off_lock:
                    self._gc_off_depth -= 1
            return
        with named_lock(self.meta, MAINTENANCE_LOCK, shared=True):
            with self._gc_off_lock:
                self._gc_off_depth += 1
            try:
                yield
            finally:
                with self._gc_off_lock:
                    self._gc_off_depth -= 1

    # ---------- writing ----------
    def ingest(self) -> Ingest:
        """Open a write session; it waits while a ``gc`` runs. End it with ``commit(conn)``
        then ``remember_hashes()``, or ``abort()``; or use it as a context manager."""
        return Ingest(self)

    def known_files(self, digests: Iterable[str]) -> dict[str, int]:
        """Digest → size of the given file digests already stored."""
        wanted = list(set(digests))
        found: dict[str, int] = {}
        with self.meta.read() as conn:
            for batch in _batches(wanted):
                q = sa.select(file_objects.c.digest, file_objects.c.size).where(
                    file_objects.c.digest.in_(batch)
                )
                found.update({d: s for d, s in conn.execute(q)})
        return found

    # ---------- reading ----------
    def chunk_list(self, conn: Connection, digest: str) -> tuple[int, list[bytes]]:
        row = conn.execute(
            sa.select(file_objects.c.size, file_objects.c.chunk_list).where(
                file_objects.c.digest == digest
            )
        ).first()
        if row is None:
            raise NotFound(f"file object {digest} is not in the blob store index")
        raw = bytes(row[1])
        return int(row[0]), [raw[i : i + DIGEST_SIZE] for i in range(0, len(raw), DIGEST_SIZE)]

    def locate(self, conn: Connection, digests: list[bytes]) -> dict[bytes, tuple[str, int, int]]:
        where: dict[bytes, tuple[str, int, int]] = {}
        for batch in _batches(list(set(digests))):
            q = sa.select(chunks.c.digest, chunks.c.pack_id, chunks.c.offset, chunks.c.length)
            for d, p, o, n in conn.execute(q.where(chunks.c.digest.in_(batch))):
                where[bytes(d)] = (p, int(o), int(n))
        return where

    def locate_file(self, digest: str) -> FileLocation:
        """Where each chunk of a stored file is now."""
        with self.meta.read() as conn:
            size, order = self.chunk_list(conn, digest)
            where = self.locate(conn, order)
        self._check_located(digest, order, where)
        return FileLocation(digest, size, tuple(order), where)

    def _check_located(
        self, digest: str, order: Iterable[bytes], where: dict[bytes, tuple[str, int, int]]
    ) -> None:
        missing = [d for d in order if d not in where]
        if missing:
            raise IntegrityError(
                f"file {digest} refers to chunk {missing[0].hex()} that is in no pack; "
                "run: loopml fsck"
            )

    def iter_file(self, digest: str) -> Iterator[bytes]:
        """Yield a file's bytes chunk by chunk, each verified against its digest, and the
        whole file against its own digest at the end."""
        yield from self.read_located(self.locate_file(digest))

    def read_located(self, location: FileLocation) -> Iterator[bytes]:
        """Yield the bytes of a located file, verified like :meth:`iter_file`. A pack that is
        gone (a ``gc`` repack moved its live chunks since) makes it locate the chunks not yet
        read once more and go on from there."""
        digest, order = location.digest, location.order
        where = dict(location.where)
        relocated = False
        whole = blake3.blake3()
        total = 0
        i = 0
        while i < len(order):
            # Read runs of chunks that sit in the same pack with one call (coalesced ranges).
            pack_id = where[order[i]][0]
            j = i
            while j < len(order) and where[order[j]][0] == pack_id and j - i < 1024:
                j += 1
            run = order[i:j]
            ranges = [(where[d][1], where[d][2]) for d in run]
            reader = self.backend.read_ranges(pack_key(pack_id), ranges)
            try:
                for d, data in zip(run, reader, strict=True):
                    if blake3.blake3(data).digest() != d:
                        raise IntegrityError(
                            f"chunk {d.hex()} in pack {pack_key(pack_id)} does not match its "
                            f"digest (file {digest}); the object is corrupted: run loopml fsck"
                        )
                    whole.update(data)
                    total += len(data)
                    yield data
                    i += 1
            except NotFound:
                if relocated:
                    raise
                relocated = True
                rest = order[i:]
                with self.meta.read() as conn:
                    moved = self.locate(conn, list(rest))
                self._check_located(digest, rest, moved)
                where.update(moved)
        if total != location.size or whole.hexdigest() != digest:
            raise IntegrityError(f"file {digest} reassembled to different content; run loopml fsck")

    def write_file(self, digest: str, dest: Path) -> None:
        """Write a stored file to ``dest`` atomically: a temporary file created exclusively
        beside it (short name, never through a link), fsynced, then renamed over ``dest``."""
        write_replacing(dest, self.iter_file(digest))

    def write_to(self, digest: str, f: BinaryIO) -> None:
        """Write a stored file's verified bytes to the open file ``f``, then fsync it."""
        for data in self.iter_file(digest):
            f.write(data)
        f.flush()
        os.fsync(f.fileno())

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_file(digest))


class Ingest:
    """One write session: add files or streams, then ``commit(conn)`` on the caller's
    transaction followed by ``remember_hashes()``, or ``abort()``. Files are chunked by a small
    pool of threads (reading, cutting, hashing and writing all release the GIL); shared state
    sits behind one lock.

    The session holds the maintenance lock shared from creation (waiting while a ``gc`` runs)
    until ``remember_hashes()``, ``abort()`` or ``release()``; as a context manager it is
    released on leaving the block, after an abort when the block raised."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._held = ExitStack()
        self._held.enter_context(named_lock(store.meta, MAINTENANCE_LOCK, shared=True))
        self._writers: list[PackWriter] = []
        self._idle_writers: list[PackWriter] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._new_chunks: set[bytes] = set()
        self._new_files: dict[str, tuple[int, bytes]] = {}
        self._reused_files: set[str] = set()
        self._reused_chunks: set[bytes] = set()
        self._cache_updates: list[tuple[str, os.stat_result, str]] = []
        self._packs: list[PackInfo] = []
        self.bytes_read = 0
        self.bytes_new = 0

    def add_paths(
        self, paths: list[Path], progress: Callable[[int], None] | None = None
    ) -> list[StoredFile]:
        """Store files in order; a file whose (path, size, mtime, inode) is in the hash cache
        and whose content is stored is not even read."""
        stats = [p.stat() for p in paths]
        keys = [str(p.absolute()) for p in paths]
        cached = [self.store.hashcache.get(k, st) for k, st in zip(keys, stats, strict=True)]
        known = self.store.known_files(d for d in cached if d is not None)
        results: list[StoredFile | None] = [None] * len(paths)
        todo: list[int] = []
        for i, digest in enumerate(cached):
            if digest is not None and digest in known:
                self._reused_files.add(digest)
                results[i] = StoredFile(digest, stats[i].st_size)
                if progress:
                    progress(stats[i].st_size)
            else:
                todo.append(i)

        def work(i: int) -> StoredFile:
            with open(paths[i], "rb") as f:
                stored = self.add_stream(f)
            if progress:
                progress(stored.size)
            return stored

        n = min(len(todo), workers(_WORKERS))
        if n <= 1:
            done = [work(i) for i in todo]
        else:
            with ThreadPoolExecutor(n, thread_name_prefix="loopml-chunk") as pool:
                done = list(pool.map(work, todo))
        for i, stored in zip(todo, done, strict=True):
            results[i] = stored
            self._cache_updates.append((keys[i], stats[i], stored.digest))
        return [r for r in results if r is not None]

    def add_path(self, path: Path) -> StoredFile:
        return self.add_paths([path])[0]

    def add_bytes(self, data: bytes) -> StoredFile:
        return self._add_chunks(BytesChunks(data))

    def add_stream(self, stream: BinaryIO) -> StoredFile:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = bytearray(BUFFER_SIZE)
        return self._add_chunks(FileChunks(stream, buffer))

    def _add_chunks(self, fc: FileChunks | BytesChunks) -> StoredFile:
        order: list[bytes] = []
        for block in fc:
            # One index query covers a whole block of chunks.
            order.extend(d for d, _ in block)
            self._store_new(block)
        with self._lock:
            self.bytes_read += fc.size
            self._new_files.setdefault(fc.digest, (fc.size, b"".join(order)))
        return StoredFile(fc.digest, fc.size)

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.store.meta.engine.connect()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _store_new(self, block: list[tuple[bytes, memoryview]]) -> None:
        with self._lock:
            window = [(d, v) for d, v in block if d not in self._new_chunks]
        if not window:
            return
        conn = self._connection()
        known = known_chunks(conn, [d for d, _ in window])
        conn.rollback()
        fresh = []
        with self._lock:
            for digest, data in window:
                if digest in known:
                    self._reused_chunks.add(digest)
                elif digest not in self._new_chunks:
                    self._new_chunks.add(digest)
                    fresh.append((digest, data))
                    self.bytes_new += len(data)
        if fresh:
            self._write_new(fresh)

    def _write_new(self, fresh: list[tuple[bytes, memoryview]]) -> None:
        """Append to a pack no other thread is writing: the copies into packs run side by
        side, and a pack is only opened when every open one is busy."""
        with self._lock:
            writer = self._idle_writers.pop() if self._idle_writers else None
        if writer is None:
            writer = PackWriter(self.store.backend)
            with self._lock:
                self._writers.append(writer)
        try:
            writer.add_many(fresh)
        finally:
            with self._lock:
                self._idle_writers.append(writer)

    def _close_connections(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns.clear()

    def finish(self) -> None:
        """Make every new pack durable on the backend (phase one)."""
        self._close_connections()
        self._packs = [p for w in self._writers for p in w.finish()]

    def commit(self, conn: Connection) -> None:
        """Record packs, chunks and files on ``conn`` (phase two, the caller's transaction).
        Refuses if a concurrent ``gc`` removed something this write relied on."""
        now = time.time()
        insert_ignore(
            conn,
            packs,
            [
                {"id": p.id, "size": p.size, "chunk_count": len(p.entries), "created_at": now}
                for p in self._packs
            ],
        )
        insert_ignore(
            conn,
            chunks,
            [
                {"digest": e.digest, "pack_id": p.id, "offset": e.offset, "length": e.length}
                for p in self._packs
                for e in p.entries
            ],
        )
        insert_ignore(
            conn,
            file_objects,
            [{"digest": d, "size": s, "chunk_list": cl} for d, (s, cl) in self._new_files.items()],
        )
        self._check_still_there(conn)

    def _check_still_there(self, conn: Connection) -> None:
        reused_files = sorted(self._reused_files - self._new_files.keys())
        for batch in _batches(reused_files):
            n = conn.execute(
                sa.select(sa.func.count()).where(file_objects.c.digest.in_(batch))
            ).scalar_one()
            if n != len(batch):
                raise Conflict("a concurrent 'loopml gc' removed stored data; push again")
        reused_chunks = sorted(self._reused_chunks)
        for cbatch in _batches(reused_chunks):
            n = conn.execute(
                sa.select(sa.func.count()).where(chunks.c.digest.in_(cbatch))
            ).scalar_one()
            if n != len(cbatch):
                raise Conflict("a concurrent 'loopml gc' removed stored data; push again")

    def remember_hashes(self) -> None:
        """After a successful commit: let unchanged files skip hashing next time; ends the
        session."""
        try:
            self.store.hashcache.put_many(self._cache_updates)
        finally:
            self.release()

    def abort(self) -> None:
        """Drop what was not committed (published packs stay for ``gc``); ends the session."""
        try:
            self._close_connections()
            for w in self._writers:
                w.abort()
        finally:
            self.release()

    def release(self) -> None:
        """Let ``gc`` run again as far as this session is concerned; idempotent."""
        self._held.close()

    def __enter__(self) -> Ingest:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        self.release()
