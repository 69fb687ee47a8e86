"""The client side of a push's transfer: chunk and hash files locally, ask the datasets
service which chunks it lacks, and send only those.

Files run on a small pool of threads; each thread streams the chunks it must send through one
``put_chunks`` call, so a call fills whole packs and the chunks go from the read buffer to the
service without a copy (a remote service sends them as the request body). The service is
asked about one block of chunks (up to 8 MiB of a file) at a time, while its bytes are still
in the buffer. A file whose (path, size, mtime, inode) is in the hash cache, with its chunk
list, is not read at all: its chunks are only asked about.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.api.datasets import Chunk, ManifestFile
from loopml.blobs.chunker import BUFFER_SIZE, FileChunks, workers
from loopml.blobs.hashcache import HashCache

if TYPE_CHECKING:  # the interfaces import every block's types; a push needs none
    from loopml.api.protocols import Datasets

_WORKERS = 2

Progress = Callable[[int], None]


class Sender:
    """One push's transfer: :meth:`send` the files, then :meth:`remember_hashes` once the
    version is committed."""

    def __init__(self, service: Datasets, cache: HashCache, progress: Progress | None) -> None:
        self.service = service
        self.cache = cache
        self.progress = progress
        self.bytes_read = 0
        self.bytes_sent = 0
        self.chunks_sent = 0
        self._lock = threading.Lock()
        # Digests this push sent or learnt the service holds: never asked about again.
        self._settled: set[bytes] = set()
        self._stats: list[tuple[str, os.stat_result, str]] = []
        self._lists: dict[str, bytes] = {}

    def send(self, files: list[tuple[str, Path]]) -> tuple[ManifestFile, ...]:
        """Make sure the service holds every chunk of ``files``; their manifest entries."""
        stats = [real.stat() for _rel, real in files]
        keys = [str(real.absolute()) for _rel, real in files]
        cached = [self.cache.get(k, st) for k, st in zip(keys, stats, strict=True)]
        lists = self.cache.chunk_lists(sorted({d for d in cached if d is not None}))
        out: list[ManifestFile | None] = [None] * len(files)
        known = [i for i, d in enumerate(cached) if d is not None and d in lists]
        absent = set(
            self._ask([c for i in known for c in lists[cached[i]]])  # type: ignore[index]
        )
        todo: list[int] = []
        for i, digest in enumerate(cached):
            order = lists.get(digest) if digest is not None else None
            if digest is None or order is None or any(c in absent for c in order):
                todo.append(i)  # read it: its chunks (or some of them) must be sent
                continue
            out[i] = ManifestFile(
                files[i][0], stats[i].st_size, digest, tuple(c.hex() for c in order)
            )
            if self.progress:
                self.progress(stats[i].st_size)
        self._settled.update(c for i in known for c in lists[cached[i]] if c not in absent)  # type: ignore[index]
        if todo:
            work: queue.SimpleQueue[int] = queue.SimpleQueue()
            for i in todo:
                work.put(i)
            done: dict[int, ManifestFile] = {}

            def worker() -> None:
                self.service.put_chunks(self._stream(files, stats, keys, work, done))

            n = min(len(todo), workers(_WORKERS))
            if n == 1:
                worker()
            else:
                with ThreadPoolExecutor(n, thread_name_prefix="loopml-push") as pool:
                    for f in [pool.submit(worker) for _ in range(n)]:
                        f.result()
            for i, entry in done.items():
                out[i] = entry
        return tuple(e for e in out if e is not None)

    def _stream(
        self,
        files: list[tuple[str, Path]],
        stats: list[os.stat_result],
        keys: list[str],
        work: queue.SimpleQueue[int],
        done: dict[int, ManifestFile],
    ) -> Iterator[Chunk]:
        """The chunks to send of the files this thread takes from ``work``."""
        buffer = bytearray(BUFFER_SIZE)
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            with open(files[i][1], "rb") as f:
                fc = FileChunks(f, buffer)
                order: list[bytes] = []
                for block in fc:
                    order.extend(d for d, _ in block)
                    yield from self._missing_of(block)
            entry = ManifestFile(files[i][0], fc.size, fc.digest, tuple(d.hex() for d in order))
            with self._lock:
                done[i] = entry
                self.bytes_read += fc.size
                self._stats.append((keys[i], stats[i], fc.digest))
                self._lists[fc.digest] = b"".join(order)
            if self.progress:
                self.progress(fc.size)

    def _missing_of(self, block: list[tuple[bytes, memoryview]]) -> Iterator[Chunk]:
        with self._lock:
            ask = [d for d, _ in block if d not in self._settled]
            self._settled.update(ask)  # claimed: the other threads leave them to this one
        if not ask:
            return
        absent = set(self._ask(ask))
        if not absent:
            return
        sending = []
        for d, view in block:
            if d in absent:
                absent.discard(d)  # a chunk twice in one block is sent once
                sending.append((d.hex(), view))
        with self._lock:
            self.bytes_sent += sum(len(v) for _, v in sending)
            self.chunks_sent += len(sending)
        yield from sending

    def _ask(self, digests: list[bytes]) -> list[bytes]:
        if not digests:
            return []
        return [bytes.fromhex(d) for d in self.service.missing_chunks([d.hex() for d in digests])]

    def forget(self) -> None:
        """Ask about every chunk again on the next :meth:`send` (some may be gone since)."""
        with self._lock:
            self._settled.clear()

    def remember_hashes(self) -> None:
        """After the commit: unchanged files skip reading next time."""
        self.cache.put_chunk_lists(self._lists)
        self.cache.put_many(self._stats)
