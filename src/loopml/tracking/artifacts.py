"""Which files ``log_artifact`` stores, and under which paths."""

from __future__ import annotations

import os
from pathlib import Path

from loopml.core.errors import InvalidInput
from loopml.core.paths import safe_relpath


def artifact_files(path: Path, prefix: str | None) -> list[tuple[str, Path]]:
    """(stored path, file) pairs for a file or every regular file under a folder."""
    base = safe_relpath(prefix) + "/" if prefix else ""
    if path.is_file():
        return [(safe_relpath(base + path.name), path)]
    if not path.is_dir():
        raise InvalidInput(f"artifact {str(path)!r} is not a file or a folder; check the path")
    out = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_file():
                out.append((safe_relpath(base + full.relative_to(path).as_posix()), full))
    if not out:
        raise InvalidInput(f"folder {str(path)!r} holds no files; nothing to log")
    return out
