"""Relative paths inside a version: normalized and confined to it."""

from __future__ import annotations

import posixpath

from loopml.core.errors import InvalidInput


def safe_relpath(path: str) -> str:
    """Return the normalized POSIX form of a relative path, or raise if it could escape."""
    if not path or "\x00" in path or "\\" in path:
        raise InvalidInput(f"invalid path {path!r}: empty, NUL or backslash in a stored path")
    if path.startswith("/"):
        raise InvalidInput(f"invalid path {path!r}: stored paths are relative")
    norm = posixpath.normpath(path)
    if norm in (".", "") or norm == ".." or norm.startswith("../"):
        raise InvalidInput(f"invalid path {path!r}: it leaves its version folder")
    return norm
