"""Removing what no version references: dead files, dead packs, mostly-dead packs (repacked),
orphan objects left by interrupted pushes, and their partly written files in the staging
folder (older than the grace period).

A collection holds the blob store's maintenance lock exclusively (a dry run shared), so it
waits for running writes, and writes wait for it: nothing a write reuses disappears before
it commits. Readers do not wait: they locate chunks a repack moved again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from loopml.blobs.backend import remove_leftover, staging_leftovers
from loopml.blobs.chunker import DIGEST_SIZE
from loopml.blobs.packs import PackWriter, pack_key
from loopml.blobs.store import MAINTENANCE_LOCK, BlobStore
from loopml.meta.locks import named_lock
from loopml.meta.tables import FILE_REFERENCES, chunks, file_objects, packs

REPACK_BELOW = 0.5  # repack a pack when less than half its bytes are still referenced
ORPHAN_GRACE_S = 3600.0  # a pack not in the index this young may belong to a running push


@dataclass
class GcReport:
    files_removed: int = 0
    packs_deleted: int = 0
    packs_repacked: int = 0
    orphans_deleted: int = 0
    leftovers_deleted: int = 0
    bytes_freed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gc(
    store: BlobStore,
    grace_s: float = ORPHAN_GRACE_S,
    dry_run: bool = False,
    on_wait: Callable[[], None] | None = None,
) -> GcReport:
    """Collect garbage once every running write session has ended; new ones wait for it.

    ``on_wait`` is called (once, before waiting) when write sessions are under way."""
    with named_lock(store.meta, MAINTENANCE_LOCK, shared=dry_run, wait=False) as held:
        if held:
            return _collect(store, grace_s, dry_run)
    if on_wait is not None:
        on_wait()
    with named_lock(store.meta, MAINTENANCE_LOCK, shared=dry_run):
        return _collect(store, grace_s, dry_run)


def _collect(store: BlobStore, grace_s: float, dry_run: bool) -> GcReport:
    report = GcReport()
    with store.meta.write() as conn:
        live_files: set[str] = set()
        for table, column in FILE_REFERENCES:
            live_files.update(d for (d,) in conn.execute(sa.select(table.c[column]).distinct()))
        all_files = {d for (d,) in conn.execute(sa.select(file_objects.c.digest))}
        dead_files = sorted(all_files - live_files)
        report.files_removed = len(dead_files)
        if not dry_run:
            for i in range(0, len(dead_files), 500):
                conn.execute(
                    file_objects.delete().where(file_objects.c.digest.in_(dead_files[i : i + 500]))
                )
        live_chunks: set[bytes] = set()
        for (raw,) in conn.execute(sa.select(file_objects.c.chunk_list)):
            raw = bytes(raw)
            live_chunks.update(raw[i : i + DIGEST_SIZE] for i in range(0, len(raw), DIGEST_SIZE))
        per_pack: dict[str, list[tuple[bytes, int, int]]] = {}
        for d, p, o, n in conn.execute(
            sa.select(chunks.c.digest, chunks.c.pack_id, chunks.c.offset, chunks.c.length)
        ):
            per_pack.setdefault(p, []).append((bytes(d), int(o), int(n)))
        pack_sizes = {p: int(s) for p, s in conn.execute(sa.select(packs.c.id, packs.c.size))}

    for pack_id, size in pack_sizes.items():
        entries = per_pack.get(pack_id, [])
        live = [e for e in entries if e[0] in live_chunks]
        live_bytes = sum(n for _, _, n in live)
        total = sum(n for _, _, n in entries) or 1
        if live and live_bytes / total >= REPACK_BELOW:
            continue
        if dry_run:
            report.packs_deleted += not live
            report.packs_repacked += bool(live)
            report.bytes_freed += size - live_bytes
            continue
        new_packs = []
        if live:
            writer = PackWriter(store.backend)
            try:
                key = pack_key(pack_id)
                ranges = [(o, n) for _, o, n in sorted(live, key=lambda e: e[1])]
                ordered = sorted(live, key=lambda e: e[1])
                for (d, _o, _n), data in zip(
                    ordered, store.backend.read_ranges(key, ranges), strict=True
                ):
                    writer.add(d, data)
                new_packs = writer.finish()
            except BaseException:
                writer.abort()
                raise
        with store.meta.write() as conn:
            for p in new_packs:
                conn.execute(
                    packs.insert().values(
                        id=p.id, size=p.size, chunk_count=len(p.entries), created_at=time.time()
                    )
                )
                for e in p.entries:
                    conn.execute(
                        chunks.update()
                        .where(chunks.c.digest == e.digest)
                        .values(pack_id=p.id, offset=e.offset, length=e.length)
                    )
            conn.execute(chunks.delete().where(chunks.c.pack_id == pack_id))
            conn.execute(packs.delete().where(packs.c.id == pack_id))
        store.backend.delete(pack_key(pack_id))
        report.bytes_freed += size - sum(p.size for p in new_packs)
        if live:
            report.packs_repacked += 1
        else:
            report.packs_deleted += 1

    with store.meta.read() as conn:
        indexed = {p for (p,) in conn.execute(sa.select(packs.c.id))}
    cutoff = time.time() - grace_s
    for key, size in list(store.backend.iter("packs/")):
        if key.rsplit("/", 1)[-1] in indexed:
            continue
        if store.backend.mtime(key) < cutoff:
            report.orphans_deleted += 1
            report.bytes_freed += size
            if not dry_run:
                store.backend.delete(key)
    # Files in the staging folder belong to a running write (which holds the maintenance lock
    # shared, so none runs now unless this is a dry run) or to a killed one; the grace period
    # also spares a write of another store sharing the folder.
    for item in staging_leftovers(store.backend):
        if item.mtime < cutoff:
            report.leftovers_deleted += 1
            report.bytes_freed += item.size
            if not dry_run:
                remove_leftover(item)
    return report
