"""The client side of a pull: a version's manifest, and its files' bytes fetched as chunks
through the datasets service, only those not already at hand, each file verified whole.

A chunk that appears more than once in a version (repeated content inside a file, or files
that share content) is fetched once and kept in memory until its last use, up to
:data:`KEEP_BYTES`; past that it is fetched again rather than held.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

import blake3

from loopml.api.datasets import Manifest, ManifestFile
from loopml.api.protocols import Datasets
from loopml.core.errors import IntegrityError, InvalidInput, NotFound
from loopml.core.paths import safe_relpath

KEEP_BYTES = 64 * 1024 * 1024
# Chunks asked for in one get_chunks call (a remote service streams them back).
_PER_CALL = 1024


class Fetcher:
    """Writes the files of one manifest from chunks fetched through ``service``; an
    :class:`loopml.blobs.export.Source`."""

    def __init__(self, service: Datasets, manifest: Manifest) -> None:
        self.service = service
        self.files: dict[str, ManifestFile] = {f.digest: f for f in manifest.files}
        self._uses = Counter(c for f in manifest.files for c in f.chunks)
        self._kept: dict[str, bytes] = {}
        self._kept_bytes = 0
        self.chunks_fetched = 0
        self.bytes_fetched = 0

    def write_to(self, digest: str, f: BinaryIO) -> None:
        for data in self.iter_file(digest):
            f.write(data)
        f.flush()
        os.fsync(f.fileno())

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_file(digest))

    def iter_file(self, digest: str) -> Iterator[bytes]:
        """Yield a file's bytes in order; IntegrityError unless they hash to its digest."""
        entry = self.files.get(digest)
        if entry is None:
            raise NotFound(f"file {digest} is not in this version's manifest")
        whole = blake3.blake3()
        total = 0
        for data in self._chunks(entry):
            whole.update(data)
            total += len(data)
            yield data
        if total != entry.size or whole.hexdigest() != digest:
            raise IntegrityError(
                f"file {entry.path!r} reassembled from its chunks to other content than its "
                f"digest {digest}; run: loopml fsck"
            )

    def _chunks(self, entry: ManifestFile) -> Iterator[bytes]:
        order = entry.chunks
        i = 0
        while i < len(order):
            # The next run of chunks not at hand, each asked for once.
            want: list[str] = []
            j = i
            while j < len(order) and len(want) < _PER_CALL:
                c = order[j]
                if c not in self._kept and c not in want:
                    want.append(c)
                j += 1
            fetched = self.service.get_chunks(want) if want else iter(())
            pending = set(want)  # first uses, in the order ``fetched`` yields them
            for c in order[i:j]:
                data = self._kept.get(c)
                if data is None:
                    if c in pending:
                        pending.discard(c)
                        data = self._verified(c, next(fetched), entry)
                    else:  # used again but not kept (the memory bound): fetch it again
                        data = self._verified(c, next(self.service.get_chunks([c])), entry)
                self._use(c, data)
                yield data
            i = j

    def _verified(self, c: str, item: tuple[str, bytes | memoryview], entry: ManifestFile) -> bytes:
        d, raw = item
        data = bytes(raw)
        if d != c or blake3.blake3(data).hexdigest() != c:
            raise IntegrityError(
                f"chunk {c} of file {entry.path!r} came back with other bytes; run: loopml fsck"
            )
        self.chunks_fetched += 1
        self.bytes_fetched += len(data)
        return data

    def _use(self, c: str, data: bytes) -> None:
        """Keep a chunk that is used again later (within the memory bound), drop it after."""
        self._uses[c] -= 1
        if self._uses[c] <= 0:
            if self._kept.pop(c, None) is not None:
                self._kept_bytes -= len(data)
        elif c not in self._kept and self._kept_bytes + len(data) <= KEEP_BYTES:
            self._kept[c] = data
            self._kept_bytes += len(data)


def open_file(service: Datasets, ref: str, path: str) -> tuple[ManifestFile, Iterator[bytes]]:
    """The manifest entry of file ``path`` in version ``ref`` and its verified bytes, fetched
    as they are read. A path that is not in normal relative form is refused, so nothing
    outside the version can be named."""
    wanted = safe_relpath(path)
    if wanted != path:
        raise InvalidInput(f"file path {path!r} is not in normal form; use {wanted!r}")
    manifest = service.get_manifest(ref)
    for entry in manifest.files:
        if entry.path == wanted:
            fetcher = Fetcher(service, manifest)
            return entry, fetcher.iter_file(entry.digest)
    raise NotFound(
        f"version {ref} has no file {path!r}; list its files with: loopml datasets show {ref}"
    )
