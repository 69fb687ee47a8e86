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

import contextlib
import errno
import fcntl
import mmap
import os
import struct
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import blake3

from loopml.blobs.backend import Backend
from loopml.core.errors import IntegrityError, StoreError

MAGIC = b"LOOPPAK1"
ENTRY = struct.Struct("<32sQI")
TRAILER = struct.Struct("<Q8s")
TARGET_SIZE = 64 * 1024 * 1024
# A pack is written in blocks of this size from a ring of page-aligned buffers: one fills while
# the others are written. Direct I/O wants offsets and lengths in multiples of the device's
# block size; 4 KiB covers the disks Linux knows, and the last block is padded, then cut back.
# With two buffers a push on a busy machine waited ~0.25 s per GiB for the writing thread;
# with three, ~0.02 s.
BLOCK_SIZE = 4 * 1024 * 1024
BUFFERS = 3
_ALIGN = 4096
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


class PackEntry(NamedTuple):
    """A chunk's place in its pack (a tuple: a GiB makes some 13,000 of them)."""

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
    """Appends chunks to a pack in the backend's staging folder and publishes each full pack
    (fsync and rename, or upload) in a background thread while the next one fills.

    Chunks are copied into a ring of page-aligned block buffers; a full block is written by a
    background thread while the caller fills the next. On a backend that asks for it
    (``direct_writes``) the blocks go to the disk with ``O_DIRECT``: no copy into the page cache
    and no gigabyte of dirty pages for the publishing ``fsync`` to write back, which costs the
    caller's CPU as much as hashing the same bytes. A file system that refuses direct I/O gets
    ordinary writes, from the block that was refused on. Durability is the same either way:
    a pack is published only after it is fsynced."""

    def __init__(self, backend: Backend, target_size: int = TARGET_SIZE) -> None:
        self._backend = backend
        self._target = target_size
        self._direct = bool(_O_DIRECT) and bool(getattr(backend, "direct_writes", False))
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-pack-io")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-pack")
        self._pending: list[Future[PackInfo]] = []
        self._buffers: list[mmap.mmap] = []
        self._views: list[memoryview] = []
        self._busy: list[Future[None] | None] = [None] * BUFFERS
        self._current = 0
        self._fill = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._writes: list[Future[None]] = []  # the open pack's block writes
        self._written = 0  # file offset where the current buffer starts
        self._entries: list[PackEntry] = []
        self._offset = 0

    def _open(self) -> None:
        if not self._buffers:
            self._buffers = [mmap.mmap(-1, BLOCK_SIZE) for _ in range(BUFFERS)]
            self._views = [memoryview(b) for b in self._buffers]
        fd, name = tempfile.mkstemp(dir=self._backend.staging_dir(), prefix="pack-")
        if self._direct:
            with contextlib.suppress(OSError):  # refused: ordinary writes
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | _O_DIRECT)
        self._fd = fd
        self._path = Path(name)
        self._writes = []
        self._written = 0
        self._entries = []
        self._offset = 0

    def add_many(self, items: Sequence[tuple[bytes, bytes | memoryview]]) -> None:
        """Append chunks in order; ``data`` is copied before this returns (it may be a view
        into a buffer the caller reuses)."""
        for digest, data in items:
            self.add(digest, data)

    def add(self, digest: bytes, data: bytes | memoryview) -> None:
        """Append one chunk (copied before this returns)."""
        if self._fd is None:
            self._open()
        if type(data) is not bytes:
            data = memoryview(data)
            if data.format != "B" or data.ndim != 1:
                data = data.cast("B")
        n = len(data)
        self._append(data)
        offset = self._offset
        self._entries.append(PackEntry(digest, offset, n))
        self._offset = offset + n
        if self._offset >= self._target:
            self._seal()

    def _append(self, src: bytes | memoryview) -> None:
        """Copy ``src`` (bytes, or a one-dimensional view of bytes) into the write buffers."""
        n, fill = len(src), self._fill
        if fill + n < BLOCK_SIZE and self._busy[self._current] is None:
            # The common case: it fits in the buffer being filled, whose last write is done.
            self._views[self._current][fill : fill + n] = src
            self._fill = fill + n
            return
        done = 0
        while done < n:
            view = self._buffer()
            k = min(n - done, BLOCK_SIZE - self._fill)
            view[self._fill : self._fill + k] = src[done : done + k]
            self._fill += k
            done += k
            if self._fill == BLOCK_SIZE:
                self._flush(None)

    def _buffer(self) -> memoryview:
        """The buffer being filled, once its previous write is done (raising its error)."""
        busy = self._busy[self._current]
        if busy is not None:
            self._busy[self._current] = None
            busy.result()
        return self._views[self._current]

    def _flush(self, final_size: int | None) -> None:
        """Hand the filled part of the current buffer to the writing thread; with
        ``final_size`` it is the pack's last block and the file is closed after it."""
        assert self._fd is not None
        i, n = self._current, self._fill
        if final_size is not None and n % _ALIGN:
            pad = _ALIGN - n % _ALIGN
            self._views[i][n : n + pad] = bytes(pad)  # what is cut off after the write
        write = self._io.submit(self._write_block, self._fd, i, n, self._written, final_size)
        self._busy[i] = write
        self._writes.append(write)
        self._written += n
        self._current = (self._current + 1) % BUFFERS
        self._fill = 0

    def _write_block(self, fd: int, i: int, n: int, offset: int, final_size: int | None) -> None:
        view = self._views[i]
        try:
            if self._direct:
                try:
                    _pwrite_all(fd, view[: -(-n // _ALIGN) * _ALIGN], offset)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    # Direct I/O refused here (alignment, file system): ordinary writes.
                    self._direct = False
                    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)
                    _pwrite_all(fd, view[:n], offset)
                if final_size is not None and n % _ALIGN:
                    os.ftruncate(fd, final_size)
            else:
                _pwrite_all(fd, view[:n], offset)
        finally:
            if final_size is not None:
                os.close(fd)

    def _seal(self) -> None:
        if self._fd is None:
            return
        footer = b"".join(ENTRY.pack(e.digest, e.offset, e.length) for e in self._entries)
        footer += TRAILER.pack(len(self._entries), MAGIC)
        self._append(footer)
        size = self._offset + len(footer)
        self._buffer()
        self._flush(size)
        info = PackInfo(blake3.blake3(footer).hexdigest(), size, self._entries)
        path = self._path
        assert path is not None
        self._pending.append(self._pool.submit(self._publish, self._writes, path, info))
        self._fd = None
        self._path = None
        self._writes = []

    def _publish(self, writes: list[Future[None]], path: Path, info: PackInfo) -> PackInfo:
        try:
            for w in writes:
                w.result()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self._backend.put_file(pack_key(info.id), path)
        return info

    def finish(self) -> list[PackInfo]:
        """Seal the open pack and wait until every pack is durable; return them all."""
        try:
            self._seal()
            return [f.result() for f in self._pending]
        finally:
            self._close()

    def abort(self) -> None:
        """Drop the open pack; published ones stay until ``gc`` removes them as orphans."""
        self._io.shutdown(wait=True)
        if self._fd is not None:
            os.close(self._fd)
            if self._path is not None:
                self._path.unlink(missing_ok=True)
            self._fd = None
        self._close()

    def _close(self) -> None:
        self._io.shutdown(wait=True)
        self._pool.shutdown(wait=True)
        # A failed write's traceback may still hold a slice of a buffer: then the buffer is
        # freed with the last reference instead, and the write's own error is what is raised.
        with contextlib.suppress(BufferError):
            for view in self._views:
                view.release()
            for buf in self._buffers:
                buf.close()
        self._views, self._buffers = [], []


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        n = os.pwrite(fd, view[done:], offset + done)
        if n <= 0:
            raise StoreError(f"a write to a pack made no progress at byte {offset + done}")
        done += n
