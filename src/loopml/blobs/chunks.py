"""Chunk-level transfer over a blob store: which chunks are missing, storing verified chunks,
recording files made of stored chunks, and reading chunks back verified.

These are the store operations behind a network-shaped push (ask which digests are missing,
send only those, then commit the files that name them) and pull (fetch the chunks that are
not local). Every chunk is checked against its digest on the way in and on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack

import blake3
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.blobs.chunker import DIGEST_SIZE
from loopml.blobs.packs import PackInfo, PackWriter, pack_key
from loopml.blobs.store import (
    _IN_BATCH,
    BlobStore,
    _batches,
    chunk_lengths,
    chunk_packs,
    known_chunks,
)
from loopml.core.errors import Conflict, IntegrityError, InvalidInput, NotFound
from loopml.meta.rows import insert_ignore, insert_tuples_ignore
from loopml.meta.tables import chunks, file_objects, packs


def missing_chunks(store: BlobStore, digests: Iterable[bytes]) -> list[bytes]:
    """The digests (in the order given, each once) that no stored chunk has."""
    wanted = list(dict.fromkeys(digests))
    with store.meta.read() as conn:
        known = known_chunks(conn, wanted)
    return [d for d in wanted if d not in known]


def put_chunks(
    store: BlobStore, items: Iterable[tuple[bytes, bytes | memoryview]], verify: bool = True
) -> list[tuple[bytes, int]]:
    """Store chunks, each verified against its digest, and record them in the index.

    A chunk's bytes may be a view that is valid only until the next chunk is requested (the
    sender's read buffer): each is verified and written before the next is taken. All or
    nothing: a chunk whose bytes do not match its digest raises InvalidInput and nothing of
    the call is recorded (published packs stay for ``gc``). ``verify=False`` only for chunks
    this process hashed from the same bytes itself (an embedded push). Returns (digest, length) of every
    chunk newly stored, in order; chunks the index held already are not recorded again."""
    written: list[tuple[bytes, int]] = []
    seen: set[bytes] = set()
    with ExitStack() as held:
        # Held shared like a write session: gc must not take the packs before they are indexed.
        held.enter_context(store.gc_off())
        writer = PackWriter(store.backend)
        try:
            for digest, data in items:
                if verify and blake3.blake3(data).digest() != digest:
                    raise InvalidInput(
                        f"chunk {digest.hex()}: its {len(data)} bytes do not match its digest "
                        f"(they hash to {blake3.blake3(data).hexdigest()}); nothing was "
                        "stored: send the chunk's exact bytes"
                    )
                if digest in seen:
                    continue
                seen.add(digest)
                writer.add(digest, data)
                written.append((digest, len(data)))
            published = writer.finish()
        except BaseException:
            writer.abort()
            raise
        if not published:
            return []
        with store.meta.write() as conn:
            known = _record_packs(conn, published)
    return [(d, n) for d, n in written if d not in known]


def _record_packs(conn: Connection, published: list[PackInfo]) -> set[bytes]:
    """Index the chunks of ``published``; the digests among them the index held before."""
    import time

    now = time.time()
    ids = [p.id for p in published]
    # A pack can be published twice only with the same chunks at the same places (its name is
    # the digest of its footer): its chunks are indexed already.
    old_packs = {r[0] for r in conn.execute(sa.select(packs.c.id).where(packs.c.id.in_(ids)))}
    insert_ignore(
        conn,
        packs,
        [
            {"id": p.id, "size": p.size, "chunk_count": len(p.entries), "created_at": now}
            for p in published
        ],
    )
    rows = [(e.digest, p.id, e.offset, e.length) for p in published for e in p.entries]
    added = insert_tuples_ignore(conn, chunks, ("digest", "pack_id", "offset", "length"), rows)
    if added == len(rows):  # the usual case: every chunk is new, no need to ask
        return set()
    # Some were indexed before, by another pack: they kept their row, so their pack tells.
    new_packs = set(ids) - old_packs
    return {d for d, pack_id in chunk_packs(conn, [r[0] for r in rows]) if pack_id not in new_packs}


def record_files(conn: Connection, files: Iterable[tuple[str, int, list[bytes]]]) -> None:
    """Record file objects (digest, size, ordered chunk digests) on ``conn``, refusing with
    Conflict if a chunk they name is not stored or their chunks do not add up to the size.
    A file already recorded is kept as it is (its chunks are stored: gc removes files first)."""
    todo: dict[str, tuple[int, list[bytes]]] = {}
    for digest, size, order in files:
        todo.setdefault(digest, (size, order))
    for batch in _batches(list(todo)):
        for (d,) in conn.execute(
            sa.select(file_objects.c.digest).where(file_objects.c.digest.in_(batch))
        ):
            todo.pop(d, None)
    if not todo:
        return
    wanted = list({c for _s, order in todo.values() for c in order})
    lengths = chunk_lengths(conn, wanted)
    absent = [c for c in wanted if c not in lengths]
    if absent:
        raise Conflict(
            f"{len(absent)} chunk(s) the manifest names are not stored (first: "
            f"{absent[0].hex()}); send them with put_chunks first, or push again if a "
            "'loopml gc' removed them meanwhile"
        )
    for digest, (size, order) in todo.items():
        total = sum(lengths[c] for c in order)
        if total != size:
            raise InvalidInput(
                f"file {digest}: its chunks add up to {total} bytes, the manifest says {size}; "
                "send the file's chunks in order"
            )
    insert_ignore(
        conn,
        file_objects,
        [{"digest": d, "size": s, "chunk_list": b"".join(o)} for d, (s, o) in todo.items()],
    )


def chunk_lists(conn: Connection, digests: Iterable[str]) -> dict[str, list[bytes]]:
    """File digest → its ordered chunk digests, for stored files."""
    out: dict[str, list[bytes]] = {}
    for batch in _batches(list(set(digests))):
        q = sa.select(file_objects.c.digest, file_objects.c.chunk_list).where(
            file_objects.c.digest.in_(batch)
        )
        for d, raw in conn.execute(q):
            raw = bytes(raw)
            out[d] = [raw[i : i + DIGEST_SIZE] for i in range(0, len(raw), DIGEST_SIZE)]
    return out


def read_chunks(store: BlobStore, digests: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Yield (digest, bytes) of each stored chunk asked for, in order, each verified; a chunk
    that is not stored raises NotFound, one whose bytes do not match IntegrityError."""
    order = list(digests)
    for start in range(0, len(order), _IN_BATCH):
        part = order[start : start + _IN_BATCH]
        with store.meta.read() as conn:
            where = store.locate(conn, part)
        absent = [d for d in part if d not in where]
        if absent:
            raise NotFound(
                f"chunk {absent[0].hex()} is not stored; ask for the chunks a manifest names"
            )
        i = 0
        while i < len(part):
            pack_id = where[part[i]][0]
            j = i
            while j < len(part) and where[part[j]][0] == pack_id:
                j += 1
            run = part[i:j]
            ranges = [(where[d][1], where[d][2]) for d in run]
            for d, data in zip(
                run, store.backend.read_ranges(pack_key(pack_id), ranges), strict=True
            ):
                if blake3.blake3(data).digest() != d:
                    raise IntegrityError(
                        f"chunk {d.hex()} in pack {pack_key(pack_id)} does not match its "
                        "digest; the object is corrupted: run loopml fsck"
                    )
                yield d, data
            i = j
