"""Pack files: many chunks in one object, so a GiB is a handful of objects, not thousands.

Layout of a pack::

    chunk bytes, back to back
    footer: one entry per chunk (32-byte digest, u64 offset, u32 length)
    u64 entry count, 8-byte magic ``LOOPPAK1``

The footer makes a pack self-describing (the index in the metadata store can be rebuilt from
the packs); reads use the index and range reads, never the footer. A pack is named by the
BLAKE3 of its footer: the footer lists every chunk's own BLAKE3 with its place, so it names
the content without hashing the data twice. A pack is published atomically by the backend.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import blake3

from loopml.blobs.backend import Backend
from loopml.core.errors import IntegrityError

MAGIC = b"LOOPPAK1"
ENTRY = struct.Struct("<32sQI")
TRAILER = struct.Struct("<Q8s")
TARGET_SIZE = 64 * 1024 * 1024
_IOV_MAX = 1024  # buffers per writev call (POSIX guarantees at least this many on Linux)


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


@dataclass(frozen=True)
class PackEntry:
    digest: bytes
    offset: int
    length: int


@dataclass
class PackInfo:
    id: str
    size: int
    entries: list[PackEntry] = field(default_factory=list)


def parse_footer(tail: bytes) -> list[PackEntry]:
    """Entries from the end of a pack (``tail`` must hold the whole footer)."""
    count, magic = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    if magic != MAGIC:
        raise IntegrityError(
            "not a loopml pack (bad magic): the pack file is damaged; run loopml fsck"
        )
    start = len(tail) - TRAILER.size - count * ENTRY.size
    return [PackEntry(*ENTRY.unpack_from(tail, start + i * ENTRY.size)) for i in range(count)]


class PackWriter:
    """Appends chunks to a pack in the backend's staging folder; a full pack is published in a
    background thread (fsync and rename, or upload) while the next one fills."""

    def __init__(self, backend: Backend, target_size: int = TARGET_SIZE) -> None:
        self._backend = backend
        self._target = target_size
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-pack")
        self._pending: list[Future[PackInfo]] = []
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._entries: list[PackEntry] = []
        self._offset = 0

    def _open(self) -> None:
        fd, name = tempfile.mkstemp(dir=self._backend.staging_dir(), prefix="pack-")
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._path = Path(name)
        self._entries = []
        self._offset = 0

    def add(self, digest: bytes, data: bytes | memoryview) -> None:
        self.add_many([(digest, data)])

    def add_many(self, items: Sequence[tuple[bytes, bytes | memoryview]]) -> None:
        """Append chunks in order, with one ``writev`` per run that fits in the open pack."""
        run: list[bytes | memoryview] = []
        for digest, data in items:
            if self._file is None:
                self._open()
            run.append(data)
            self._entries.append(PackEntry(digest, self._offset, len(data)))
            self._offset += len(data)
            if self._offset >= self._target:
                self._write(run)
                run = []
                self._seal()
        if run:
            self._write(run)

    def _write(self, views: list[bytes | memoryview]) -> None:
        assert self._file is not None
        fd = self._file.fileno()
        for i in range(0, len(views), _IOV_MAX):
            batch = views[i : i + _IOV_MAX]
            want = sum(len(v) for v in batch)
            done = os.writev(fd, batch)
            if done < want:  # a short write (rare on files): finish it piece by piece
                self._file.write(b"".join(bytes(v) for v in batch)[done:])

    def _seal(self) -> None:
        if self._file is None:
            return
        footer = b"".join(ENTRY.pack(e.digest, e.offset, e.length) for e in self._entries)
        footer += TRAILER.pack(len(self._entries), MAGIC)
        self._file.write(footer)
        self._file.close()
        info = PackInfo(
            blake3.blake3(footer).hexdigest(), self._offset + len(footer), self._entries
        )
        path = self._path
        assert path is not None
        self._pending.append(self._pool.submit(self._publish, path, info))
        self._file = None
        self._path = None

    def _publish(self, path: Path, info: PackInfo) -> PackInfo:
        self._backend.put_file(pack_key(info.id), path)
        return info

    def finish(self) -> list[PackInfo]:
        """Seal the open pack and wait until every pack is durable; return them all."""
        try:
            self._seal()
            return [f.result() for f in self._pending]
        finally:
            self._pool.shutdown(wait=True)

    def abort(self) -> None:
        """Drop the open pack; published ones stay until ``gc`` removes them as orphans."""
        if self._file is not None:
            self._file.close()
            if self._path is not None:
                self._path.unlink(missing_ok=True)
            self._file = None
        self._pool.shutdown(wait=True)
