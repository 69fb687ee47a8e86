"""Pushing a file, a folder or a DataFrame as a new dataset version, through the datasets
service's transfer calls only: chunk and hash locally, ask which chunks are missing, send
only those, then commit the version's manifest (see :mod:`loopml.datasets.send`). Embedded
and remote services are driven the same way."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.api.datasets import DatasetVersion, Manifest, PushResult
from loopml.blobs.hashcache import HashCache
from loopml.core.collector import new_objects_only
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.names import validate_name
from loopml.datasets.send import Sender
from loopml.datasets.sources import collect, content_digest

if TYPE_CHECKING:  # the interfaces import every block's types; a push needs none
    from loopml.api.protocols import Datasets

# Tables are profiled at push time up to this many bytes in one version; bigger versions
# skip statistics (with the reason shown) rather than make every push pay a full parse:
# profiling costs about three times the CPU of chunking and hashing the same CSV bytes.
STATS_BUDGET = 64 * 1024 * 1024

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
    service: Datasets,
    cache: HashCache,
    scratch: Path,
    name: str,
    source: Any,
    message: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Store ``source`` (a path or a pandas DataFrame) as the next version of ``name`` through
    ``service``; identical content returns the latest version with ``created=False``.
    ``cache`` is this machine's hash cache, ``scratch`` a local folder for a DataFrame's file."""
    validate_name(name, "dataset name")
    user_meta = _parse_meta(meta)
    with new_objects_only():
        return _push(service, cache, scratch, name, source, message, user_meta, progress)


def _push(
    service: Datasets,
    cache: HashCache,
    scratch: Path,
    name: str,
    source: Any,
    message: str | None,
    user_meta: dict[str, str],
    progress: Progress | None,
) -> PushResult:
    started = time.perf_counter()
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="push-") as tmp:
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
        sender = Sender(service, cache, progress)
        manifest_files = sender.send(files)
        manifest = Manifest(kind, manifest_files, message, user_meta)
        digest = content_digest(kind, manifest.entries())
        latest = _latest(service, name)
        if latest is not None and latest.content_digest == digest:
            sender.remember_hashes()
            return PushResult(latest, False, sender.bytes_read, 0, time.perf_counter() - started)
        total = sum(f.size for f in manifest_files)
        manifest = dataclasses.replace(manifest, stats=_profile(files, total))
        try:
            result = service.commit_version(name, manifest)
        except Conflict as exc:
            if "not stored" not in exc.message:
                raise
            # A gc took chunks this push counted on after it asked: ask again, send what is
            # missing now, commit once more (a second refusal goes to the caller).
            sender.forget()
            sender.send(files)
            result = service.commit_version(name, manifest)
    sender.remember_hashes()
    return dataclasses.replace(
        result,
        bytes_read=sender.bytes_read,
        bytes_new=sender.bytes_sent if result.created else 0,
        seconds=time.perf_counter() - started,
    )


def _latest(service: Datasets, name: str) -> DatasetVersion | None:
    try:
        return service.show(name)
    except NotFound:
        return None
