"""Paths: relative paths inside a version (normalized and confined to it), destinations as
typed, and paths shown in messages."""

from __future__ import annotations

import os
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


def names_folder(raw: str) -> bool:
    """Whether a destination as typed names a folder by its trailing separator (``restore/``);
    look at the raw string: ``Path("restore/")`` drops the slash."""
    return raw.endswith(("/", os.sep))


def shown(path: str | os.PathLike[str]) -> str:
    """A path for a message: bytes that are not UTF-8 appear as ``\\xff`` escapes, so the
    message can be printed and sent as JSON."""
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
