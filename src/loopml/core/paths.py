"""Paths: relative paths inside a version (normalized and confined to it), destinations as
typed, and paths shown in messages."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

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
    """A path quoted for a message, like ``repr``; bytes of a name that is not UTF-8 appear
    as ``\\xff``, so the message prints and travels as JSON."""
    text = repr(os.fspath(path))
    # os.fsdecode keeps such bytes as lone surrogates U+DC80..U+DCFF, which repr shows as \udcXX
    return re.sub(r"\\udc([89a-f][0-9a-f])", r"\\x\1", text)


def write_replacing(dest: Path, blocks: Iterable[bytes]) -> None:
    """Write ``blocks`` to ``dest`` atomically: a temporary file created exclusively beside it
    (short name, never through a link), fsynced, then renamed over ``dest``; on any error the
    temporary file is removed and ``dest`` is left as it was."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".loopml-")
    try:
        with os.fdopen(fd, "wb") as f:
            for data in blocks:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
