"""Content-addressed file storage: files → chunks (FastCDC + BLAKE3) → packs on a backend,
with the chunk index in the metadata store.

A write has two phases. :class:`Ingest` chunks files and publishes packs of new chunks to the
backend (durable before anything refers to them); :meth:`Ingest.commit` then records packs,
chunks and file objects on the caller's transaction, next to the rows that reference them. A
crash between the two leaves only orphan packs, which ``gc`` removes; never a reference to a
missing chunk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import blake3
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.blobs.backend import Backend
from loopml.blobs.chunker import DIGEST_SIZE, FileChunks
from loopml.blobs.hashcache import HashCache
from loopml.blobs.packs import PackInfo, PackWriter, pack_key
from loopml.core.errors import Conflict, IntegrityError, NotFound
from loopml.meta.engine import MetaStore
from loopml.meta.tables import chunks, file_objects, packs

_IN_BATCH = 500


@dataclass(frozen=True)
class StoredFile:
    digest: str
    size: int


def _batches(items: list[bytes] | list[str], n: int = _IN_BATCH) -> Iterator[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _insert_ignore(conn: Connection, table: sa.Table, rows: list[dict[str, object]]) -> None:
    """INSERT that skips rows whose primary key exists (another push stored them first)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)


class BlobStore:
    def __init__(self, backend: Backend, meta: MetaStore, cache_path: Path | None = None):
        self.backend = backend
        self.meta = meta
        self.hashcache = HashCache(cache_path)

    # ---------- writing ----------
    def ingest(self) -> Ingest:
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

    def _known_chunks(self, digests: list[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        with self.meta.read() as conn:
            for batch in _batches(digests):
                q = sa.select(chunks.c.digest).where(chunks.c.digest.in_(batch))
                found.update(bytes(r[0]) for r in conn.execute(q))
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

    def iter_file(self, digest: str) -> Iterator[bytes]:
        """Yield a file's bytes chunk by chunk, each verified against its digest, and the
        whole file against its own digest at the end."""
        with self.meta.read() as conn:
            size, order = self.chunk_list(conn, digest)
            where = self.locate(conn, order)
        missing = [d for d in order if d not in where]
        if missing:
            raise IntegrityError(
                f"file {digest} refers to chunk {missing[0].hex()} that is in no pack; "
                "run: loopml fsck"
            )
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
            for d, data in zip(
                run, self.backend.read_ranges(pack_key(pack_id), ranges), strict=True
            ):
                if blake3.blake3(data).digest() != d:
                    raise IntegrityError(
                        f"chunk {d.hex()} in pack {pack_key(pack_id)} does not match its digest "
                        f"(file {digest}); the object is corrupted: run loopml fsck"
                    )
                whole.update(data)
                total += len(data)
                yield data
            i = j
        if total != size or whole.hexdigest() != digest:
            raise IntegrityError(f"file {digest} reassembled to different content; run loopml fsck")

    def write_file(self, digest: str, dest: Path) -> None:
        """Write a stored file to ``dest`` atomically (temp file, fsync, rename)."""
        tmp = dest.with_name(f".{dest.name}.loopml-tmp")
        try:
            with open(tmp, "wb") as f:
                for data in self.iter_file(digest):
                    f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_file(digest))


class Ingest:
    """One write session: add files or streams, then ``commit(conn)`` on the caller's
    transaction, or ``abort()``."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._writer = PackWriter(store.backend)
        self._new_chunks: set[bytes] = set()
        self._new_files: dict[str, tuple[int, bytes]] = {}
        self._reused_files: set[str] = set()
        self._reused_chunks: set[bytes] = set()
        self._cache_updates: list[tuple[str, os.stat_result, str]] = []
        self._packs: list[PackInfo] = []
        self.bytes_read = 0
        self.bytes_new = 0

    def add_path(self, path: Path, known: dict[str, int] | None = None) -> StoredFile:
        """Store one file; with a hash-cache hit on a stored file it is not even read."""
        st = path.stat()
        key = str(path.absolute())
        cached = self.store.hashcache.get(key, st)
        if cached is not None:
            if known is None:
                known = self.store.known_files([cached])
            if cached in known or cached in self._new_files:
                self._reused_files.add(cached)
                return StoredFile(cached, st.st_size)
        with open(path, "rb") as f:
            stored = self.add_stream(f)
        self._cache_updates.append((key, st, stored.digest))
        return stored

    def add_bytes(self, data: bytes) -> StoredFile:
        import io

        return self.add_stream(io.BytesIO(data))

    def add_stream(self, stream: BinaryIO) -> StoredFile:
        fc = FileChunks(stream)
        order: list[bytes] = []
        for block in fc:
            # One index query covers a whole block of chunks.
            order.extend(d for d, _ in block)
            self._store_new([(d, v) for d, v in block if d not in self._new_chunks])
        self.bytes_read += fc.size
        if fc.digest not in self._new_files:
            self._new_files[fc.digest] = (fc.size, b"".join(order))
        return StoredFile(fc.digest, fc.size)

    def _store_new(self, window: list[tuple[bytes, memoryview]]) -> None:
        if not window:
            return
        known = self.store._known_chunks([d for d, _ in window])
        for digest, data in window:
            if digest in known:
                self._reused_chunks.add(digest)
            elif digest not in self._new_chunks:
                self._new_chunks.add(digest)
                self._writer.add(digest, data)
                self.bytes_new += len(data)

    def finish(self) -> None:
        """Make every new pack durable on the backend (phase one)."""
        self._packs = self._writer.finish()

    def commit(self, conn: Connection) -> None:
        """Record packs, chunks and files on ``conn`` (phase two, the caller's transaction).
        Refuses if a concurrent ``gc`` removed something this write relied on."""
        now = time.time()
        _insert_ignore(
            conn,
            packs,
            [
                {"id": p.id, "size": p.size, "chunk_count": len(p.entries), "created_at": now}
                for p in self._packs
            ],
        )
        _insert_ignore(
            conn,
            chunks,
            [
                {"digest": e.digest, "pack_id": p.id, "offset": e.offset, "length": e.length}
                for p in self._packs
                for e in p.entries
            ],
        )
        _insert_ignore(
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
        """After a successful commit: let unchanged files skip hashing next time."""
        self.store.hashcache.put_many(self._cache_updates)

    def abort(self) -> None:
        self._writer.abort()
