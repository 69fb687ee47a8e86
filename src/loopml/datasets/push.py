"""Pushing a file, a folder or a DataFrame as a new dataset version."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.api.datasets import FileEntry, PushResult
from loopml.api.events import DatasetVersionCreated
from loopml.blobs.store import Ingest
from loopml.core.errors import InvalidInput
from loopml.core.identity import whoami
from loopml.core.names import validate_name
from loopml.datasets import repository as repo
from loopml.datasets.rows import version_from_row
from loopml.datasets.sources import collect, content_digest
from loopml.meta.events import append_event
from loopml.stores import Stores

# Tables are profiled at push time up to this many bytes in one version; bigger versions
# skip statistics (with the reason shown) rather than make every push pay a full parse.
STATS_BUDGET = 256 * 1024 * 1024

Progress = Callable[[int], None]


def _parse_meta(meta: dict[str, Any] | None) -> dict[str, str]:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InvalidInput("meta must be a mapping of keys to values, e.g. {'source': 'crm'}")
    out = {}
    for k, v in meta.items():
        if not isinstance(k, str) or not k or len(k) > 128:
            raise InvalidInput(
                f"meta key {k!r} must be a non-empty string of at most 128 characters"
            )
        out[k] = str(v)
    return out


def _profile(files: list[tuple[str, Path]], total: int) -> dict[str, Any]:
    from loopml.datasets.stats import is_table, table_stats

    tables = [(rel, p) for rel, p in files if is_table(p)]
    if not tables:
        return {}
    table_bytes = sum(p.stat().st_size for _, p in tables)
    if table_bytes > STATS_BUDGET:
        return {
            "skipped": f"{table_bytes} bytes of tables exceed the {STATS_BUDGET >> 20} MiB "
            "profiling budget of a push"
        }
    return {"tables": {rel: table_stats(p) for rel, p in tables}}


def push(
    stores: Stores,
    name: str,
    source: Any,
    message: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Store ``source`` (a path or a pandas DataFrame) as the next version of ``name``;
    identical content returns the latest version with ``created=False``."""
    validate_name(name, "dataset name")
    user_meta = _parse_meta(meta)
    started = time.perf_counter()
    # The write session (and its maintenance lock) comes first: a gc must not take the
    # DataFrame's temporary file for a killed push's leftover.
    with (
        stores.blobs.ingest() as ingest,
        tempfile.TemporaryDirectory(dir=stores.blobs.backend.staging_dir()) as tmp,
    ):
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            files = collect(path)
            kind = "file" if path.is_file() else "folder"
        elif type(source).__name__ == "DataFrame" and hasattr(source, "to_parquet"):
            path = Path(tmp) / "data.parquet"
            try:
                source.to_parquet(path, index=False)
            except (ValueError, TypeError, ImportError) as exc:
                raise InvalidInput(f"cannot store this DataFrame as Parquet: {exc}") from exc
            files, kind = [("data.parquet", path)], "dataframe"
        else:
            raise InvalidInput(
                f"cannot push a {type(source).__name__}: pass a file or folder path or a "
                "pandas DataFrame"
            )
        return _store(stores, ingest, name, kind, files, message, user_meta, progress, started)


def _store(
    stores: Stores,
    ingest: Ingest,
    name: str,
    kind: str,
    files: list[tuple[str, Path]],
    message: str | None,
    user_meta: dict[str, str],
    progress: Progress | None,
    started: float,
) -> PushResult:
    try:
        stored = ingest.add_paths([p for _rel, p in files], progress)
        entries = [
            FileEntry(rel, f.size, f.digest) for (rel, _p), f in zip(files, stored, strict=True)
        ]
        digest = content_digest(kind, entries)
        ingest.finish()
    except BaseException:
        ingest.abort()
        raise
    total = sum(e.size for e in entries)
    user = whoami()
    with stores.meta.read() as conn:
        ds_id = repo.dataset_id(conn, name)
        latest = repo.latest_row(conn, ds_id) if ds_id is not None else None
    if latest is not None and latest.content_digest == digest:
        ingest.remember_hashes()
        existing = version_from_row(name, latest)
        return PushResult(existing, False, ingest.bytes_read, 0, time.perf_counter() - started)
    stats = _profile(files, total)
    now = time.time()
    with stores.meta.write() as conn:
        ds_id = repo.lock_dataset(conn, name, now, user)
        latest = repo.latest_row(conn, ds_id)
        if latest is not None and latest.content_digest == digest:
            # Another process pushed the same content while we were hashing.
            existing = version_from_row(name, latest)
            return PushResult(existing, False, ingest.bytes_read, 0, time.perf_counter() - started)
        number = 1 if latest is None else latest.version + 1
        values = {
            "dataset_id": ds_id,
            "version": number,
            "parent_version": None if latest is None else latest.version,
            "content_digest": digest,
            "kind": kind,
            "message": message,
            "meta": user_meta,
            "stats": stats,
            "file_count": len(entries),
            "total_bytes": total,
            "created_at": now,
            "created_by": user,
        }
        ingest.commit(conn)
        repo.insert_version(conn, values, entries)
        append_event(conn, DatasetVersionCreated(name, number, digest))
        row = repo.latest_row(conn, ds_id)
    ingest.remember_hashes()
    version = version_from_row(name, row, tuple(entries))
    return PushResult(
        version, True, ingest.bytes_read, ingest.bytes_new, time.perf_counter() - started
    )
