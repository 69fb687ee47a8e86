"""The files of a local folder that a push or ``log_artifact`` stores, confined to it.

A link inside the folder is read only when it stays inside; a link out of it, a link loop, a
broken link, a folder that cannot be read, a name that is not UTF-8 and anything but a regular
file are refused with the path, before anything is written. Standard library only, so the
CLI's unchanged-data check can use it before SQLAlchemy loads.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from loopml.core.errors import InvalidInput
from loopml.core.paths import safe_relpath, shown


def files_under(source: Path) -> list[tuple[str, Path]]:
    """(stored path, path to read) of every file under the folder ``source``, in path order."""
    root = Path(os.path.realpath(source))

    def unreadable(exc: OSError) -> None:
        raise InvalidInput(
            f"cannot read folder {shown(exc.filename)}: {exc.strerror}; fix its permissions "
            "or move it out of the folder"
        )

    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(source, onerror=unreadable, followlinks=False):
        dirnames.sort()
        for d in list(dirnames):
            full = Path(dirpath) / d
            if full.is_symlink():
                check_inside(full, root, source)
                dirnames.remove(d)  # a link to a folder inside the tree: its files come once
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = stored_name(full, full.relative_to(source).as_posix())
            if full.is_symlink():
                check_inside(full, root, source)
            check_regular(full, rel)
            found.append((safe_relpath(rel), full))
    return found


def stored_name(path: Path, rel: str) -> str:
    """``rel`` if it can be stored (UTF-8); else an error naming ``path``."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"file name {shown(path)} is not valid UTF-8 (stored names are UTF-8); rename it"
        ) from None
    return rel


def check_inside(link: Path, root: Path, source: Path) -> None:
    """Refuse a link that is a loop, broken, or points outside ``root`` (``source`` resolved)."""
    check_link(link)
    target = Path(os.path.realpath(link))
    if target != root and root not in target.parents:
        raise InvalidInput(
            f"{shown(link)} is a symlink to {shown(target)}, outside {shown(source)}; "
            "links out of the folder are not followed: copy the file into the folder instead"
        )


def check_link(link: Path) -> None:
    """Refuse a link that loops or leads nowhere."""
    try:
        os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidInput(
                f"{shown(link)} is a symlink loop; remove it or replace it with a file"
            ) from None
        raise InvalidInput(f"{shown(link)} is a broken symlink; fix or remove it") from None


def check_regular(path: Path, rel: str) -> None:
    """Refuse anything but a readable regular file (following an accepted link)."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidInput(f"{shown(rel)} is a symlink loop; remove it") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InvalidInput(
                f"cannot read {shown(rel)}: permission denied; fix its permissions"
            ) from None
        raise InvalidInput(f"{shown(rel)} is a broken symlink; fix or remove it") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(
            f"{shown(rel)} is not a regular file (a pipe, socket or device); remove it"
        )
    if not os.access(path, os.R_OK):
        raise InvalidInput(f"cannot read {shown(rel)}: permission denied; fix its permissions")
