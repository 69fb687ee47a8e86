"""Verifying every stored byte against its digest, and every reference against the index."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3
import sqlalchemy as sa

from loopml.blobs.backend import staging_leftovers
from loopml.blobs.chunker import DIGEST_SIZE
from loopml.blobs.packs import pack_key
from loopml.blobs.store import BlobStore
from loopml.core.errors import LoopError
from loopml.meta.tables import FILE_REFERENCES, chunks, file_objects, packs


@dataclass
class FsckReport:
    packs: int = 0
    chunks: int = 0
    bytes: int = 0
    files: int = 0
    orphan_objects: int = 0
    # what killed writes left in the staging folder (``gc`` removes it once past its grace)
    leftover_files: int = 0
    leftover_bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def fsck(store: BlobStore, progress: Callable[[int], None] | None = None) -> FsckReport:
    """Read every pack and check each chunk's BLAKE3; check files and references."""
    report = FsckReport()
    with store.meta.read() as conn:
        pack_rows = list(conn.execute(sa.select(packs.c.id, packs.c.size)))
    known_packs = {p for p, _ in pack_rows}
    for pack_id, size in pack_rows:
        key = pack_key(pack_id)
        report.packs += 1
        try:
            actual = store.backend.size(key)
        except LoopError as exc:
            report.problems.append(f"pack {key} is missing: {exc}")
            continue
        if actual != size:
            report.problems.append(f"pack {key} has {actual} bytes, the index says {size}")
        with store.meta.read() as conn:
            entries = list(
                conn.execute(
                    sa.select(chunks.c.digest, chunks.c.offset, chunks.c.length)
                    .where(chunks.c.pack_id == pack_id)
                    .order_by(chunks.c.offset)
                )
            )
        ranges = [(int(o), int(n)) for _, o, n in entries]
        try:
            for (digest, offset, _n), data in zip(
                entries, store.backend.read_ranges(key, ranges), strict=True
            ):
                report.chunks += 1
                report.bytes += len(data)
                if blake3.blake3(data).digest() != bytes(digest):
                    report.problems.append(
                        f"chunk {bytes(digest).hex()} at offset {offset} of pack {key} is "
                        "corrupted (digest mismatch)"
                    )
                if progress:
                    progress(len(data))
        except LoopError as exc:
            report.problems.append(f"pack {key} cannot be read: {exc}")
    with store.meta.read() as conn:
        indexed = {bytes(d) for (d,) in conn.execute(sa.select(chunks.c.digest))}
        for digest, raw in conn.execute(
            sa.select(file_objects.c.digest, file_objects.c.chunk_list)
        ):
            report.files += 1
            raw = bytes(raw)
            for i in range(0, len(raw), DIGEST_SIZE):
                if raw[i : i + DIGEST_SIZE] not in indexed:
                    report.problems.append(
                        f"file {digest} needs chunk {raw[i : i + DIGEST_SIZE].hex()}, in no pack"
                    )
                    break
        stored = {d for (d,) in conn.execute(sa.select(file_objects.c.digest))}
        for table, column in FILE_REFERENCES:
            for (digest,) in conn.execute(sa.select(table.c[column]).distinct()):
                if digest not in stored:
                    report.problems.append(f"{table.name} refers to file {digest}, not stored")
    for key, _size in store.backend.iter("packs/"):
        if key.rsplit("/", 1)[-1] not in known_packs:
            report.orphan_objects += 1
    for item in staging_leftovers(store.backend):
        report.leftover_files += 1
        report.leftover_bytes += item.size
    return report
