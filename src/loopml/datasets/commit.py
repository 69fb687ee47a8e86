"""The service side of a network-shaped transfer: which chunks are missing, storing chunks,
committing a version from its manifest, and handing out a version's manifest and chunks.

A push is: the client chunks and hashes, asks :func:`missing_chunks`, sends only those with
:func:`put_chunks`, then :func:`commit_version`. A pull is :func:`get_manifest`, then
:func:`get_chunks` for what is not local. Digests cross this boundary as hex strings."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

from loopml.api.datasets import Chunk, ChunkRef, DatasetVersion, Manifest, ManifestFile, PushResult
from loopml.api.events import DatasetVersionCreated
from loopml.blobs import chunks as blob_chunks
from loopml.core.errors import InvalidInput
from loopml.core.identity import whoami
from loopml.core.names import is_digest, parse_digest, validate_name
from loopml.core.paths import safe_relpath
from loopml.core.refs import parse_ref
from loopml.datasets import repository as repo
from loopml.datasets.rows import version_from_row
from loopml.datasets.sources import content_digest
from loopml.meta.events import append_event
from loopml.stores import Stores

KINDS = ("file", "folder", "dataframe")


def to_raw(digest: str) -> bytes:
    """A chunk digest as 32 bytes; InvalidInput for anything but 64 lowercase hex digits."""
    raw = parse_digest(digest)
    if raw is None:
        raise InvalidInput(
            f"chunk digest {digest!r} is not a BLAKE3 digest (64 lowercase hex digits)"
        )
    return raw


def missing_chunks(stores: Stores, digests: Sequence[str]) -> list[str]:
    """The digests among ``digests`` that the store does not hold (each once, in order)."""
    raw = [to_raw(d) for d in digests]
    return [d.hex() for d in blob_chunks.missing_chunks(stores.blobs, raw)]


def put_chunks(stores: Stores, items: Iterable[Chunk], verify: bool = True) -> list[ChunkRef]:
    """Store chunks, each verified against its digest (unless this process hashed them from
    the same bytes: ``verify=False``); nothing recorded if one fails."""
    raw = ((to_raw(d), data) for d, data in items)
    stored = blob_chunks.put_chunks(stores.blobs, raw, verify=verify)
    return [ChunkRef(d.hex(), n) for d, n in stored]


def check_manifest(manifest: Manifest) -> None:
    """InvalidInput naming the first thing wrong with a manifest."""
    if manifest.kind not in KINDS:
        raise InvalidInput(f"manifest kind {manifest.kind!r} is not one of {', '.join(KINDS)}")
    if not manifest.files:
        raise InvalidInput("the manifest lists no files; a version holds at least one file")
    if manifest.kind != "folder" and len(manifest.files) != 1:
        raise InvalidInput(
            f"a {manifest.kind} version holds exactly one file, the manifest lists "
            f"{len(manifest.files)}"
        )
    seen: set[str] = set()
    for f in manifest.files:
        if safe_relpath(f.path) != f.path:
            raise InvalidInput(f"manifest path {f.path!r} is not in normal form")
        if f.path in seen:
            raise InvalidInput(f"manifest lists path {f.path!r} twice")
        seen.add(f.path)
        if f.size < 0:
            raise InvalidInput(f"manifest file {f.path!r} has a negative size")
        if not is_digest(f.digest):
            raise InvalidInput(f"manifest file {f.path!r} has no valid digest: {f.digest!r}")
        if f.size > 0 and not f.chunks:
            raise InvalidInput(f"manifest file {f.path!r} has {f.size} bytes but no chunks")
    for k in manifest.meta:
        if not isinstance(k, str) or not k or len(k) > 128:
            raise InvalidInput(
                f"meta key {k!r} must be a non-empty string of at most 128 characters"
            )


def commit_version(stores: Stores, name: str, manifest: Manifest) -> PushResult:
    """Record ``manifest`` as the next version of ``name`` once every chunk it names is
    stored (Conflict otherwise); identical content returns the latest version uncreated."""
    started = time.perf_counter()
    validate_name(name, "dataset name")
    check_manifest(manifest)
    entries = manifest.entries()
    digest = content_digest(manifest.kind, entries)
    files = [(f.digest, f.size, [to_raw(c) for c in f.chunks]) for f in manifest.files]
    user = whoami()
    with stores.blobs.gc_off():
        with stores.meta.read() as conn:
            ds_id = repo.dataset_id(conn, name)
            latest = repo.latest_row(conn, ds_id) if ds_id is not None else None
        if latest is not None and latest.content_digest == digest:
            return PushResult(version_from_row(name, latest), False, 0, 0, _since(started))
        now = time.time()
        with stores.meta.write() as conn:
            ds_id = repo.lock_dataset(conn, name, now, user)
            latest = repo.latest_row(conn, ds_id)
            if latest is not None and latest.content_digest == digest:
                # Another process committed the same content meanwhile.
                return PushResult(version_from_row(name, latest), False, 0, 0, _since(started))
            blob_chunks.record_files(conn, files)
            number = 1 if latest is None else latest.version + 1
            values = {
                "dataset_id": ds_id,
                "version": number,
                "parent_version": None if latest is None else latest.version,
                "content_digest": digest,
                "kind": manifest.kind,
                "message": manifest.message,
                "meta": dict(manifest.meta),
                "stats": dict(manifest.stats),
                "file_count": len(entries),
                "total_bytes": sum(e.size for e in entries),
                "created_at": now,
                "created_by": user,
            }
            repo.insert_version(conn, values, entries)
            append_event(conn, DatasetVersionCreated(name, number, digest))
            row = repo.latest_row(conn, ds_id)
    version = version_from_row(name, row, tuple(sorted(entries, key=lambda e: e.path)))
    return PushResult(version, True, 0, 0, _since(started))


def _since(started: float) -> float:
    return time.perf_counter() - started


def get_manifest(stores: Stores, ref: str) -> Manifest:
    """The manifest of version ``ref``: its files with their chunks in order."""
    with stores.meta.read() as conn:
        version = repo.resolve(conn, parse_ref(ref, "dataset reference"))
        lists = blob_chunks.chunk_lists(conn, (f.digest for f in version.files))
    return manifest_of(version, lists)


def manifest_of(version: DatasetVersion, lists: dict[str, list[bytes]]) -> Manifest:
    files = tuple(
        ManifestFile(f.path, f.size, f.digest, tuple(c.hex() for c in lists.get(f.digest, [])))
        for f in version.files
    )
    return Manifest(version.kind, files, version.message, dict(version.meta), dict(version.stats))


def get_chunks(stores: Stores, digests: Sequence[str]) -> Iterator[Chunk]:
    """Yield (digest, bytes) of each chunk asked for, in order, verified against its digest."""
    raw = [to_raw(d) for d in digests]
    for d, data in blob_chunks.read_chunks(stores.blobs, raw):
        yield d.hex(), data
