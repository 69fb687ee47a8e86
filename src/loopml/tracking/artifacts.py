"""Which files ``log_artifact`` stores, and under which paths."""

from __future__ import annotations

from pathlib import Path

from loopml.blobs.walk import check_regular, files_under, stored_name
from loopml.core.errors import InvalidInput
from loopml.core.paths import safe_relpath, shown


def artifact_files(path: Path, prefix: str | None) -> list[tuple[str, Path]]:
    """(stored path, file) pairs for a file or every regular file under a folder; a folder's
    links are read only when they stay inside it (the same walk as a dataset push)."""
    base = safe_relpath(prefix) + "/" if prefix else ""
    if path.is_file():
        rel = stored_name(path, path.name)
        check_regular(path, rel)
        return [(safe_relpath(base + rel), path)]
    if not path.is_dir():
        raise InvalidInput(f"artifact {shown(path)} is not a file or a folder; check the path")
    out = [(safe_relpath(base + rel), full) for rel, full in files_under(path)]
    if not out:
        raise InvalidInput(f"folder {shown(path)} holds no files; nothing to log")
    return out
