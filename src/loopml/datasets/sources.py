"""What a push reads: the files of a file or folder source (checked before anything is
written), the digest that names a version's content, and who is pushing. Standard library and
BLAKE3 only, so the CLI's unchanged-data check can use it before SQLAlchemy loads."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import blake3

from loopml.api.datasets import FileEntry
from loopml.core.errors import InvalidInput
from loopml.core.paths import safe_relpath


def collect(source: Path) -> list[tuple[str, Path]]:
    """(stored path, real path) of every file to push, checked before anything is written."""
    if not os.path.lexists(source):
        raise InvalidInput(f"path {str(source)!r} does not exist; check the path and try again")
    if source.is_file():
        check_regular(source, source.name)
        return [(safe_relpath(source.name), source)]
    if not source.is_dir():
        raise InvalidInput(
            f"{str(source)!r} is not a regular file or a folder; push a file or a folder"
        )
    root = source.resolve()
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        dirnames.sort()
        for d in list(dirnames):
            full = Path(dirpath) / d
            if full.is_symlink():
                check_inside(full, root, source)
                dirnames.remove(d)  # a link to a folder inside the tree: its files are pushed once
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(source).as_posix()
            if full.is_symlink():
                check_inside(full, root, source)
            check_regular(full, rel)
            found.append((safe_relpath(rel), full))
    if not found:
        raise InvalidInput(f"folder {str(source)!r} holds no files; nothing to push")
    return found


def check_inside(link: Path, root: Path, source: Path) -> None:
    target = link.resolve()
    if not target.exists():
        raise InvalidInput(f"{str(link)!r} is a broken symlink; fix or remove it before pushing")
    if root != target and root not in target.parents:
        raise InvalidInput(
            f"{str(link)!r} is a symlink to {str(target)!r}, outside {str(source)!r}; "
            "copy the file into the folder instead"
        )


def check_regular(path: Path, shown: str) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidInput(f"{shown!r} is a broken symlink; fix or remove it") from None
    except PermissionError:
        raise InvalidInput(
            f"cannot read {shown!r}: permission denied; fix its permissions"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{shown!r} is not a regular file (a pipe, socket or device); remove it")
    if not os.access(path, os.R_OK):
        raise InvalidInput(f"cannot read {shown!r}: permission denied; fix its permissions")


def content_digest(kind: str, files: list[FileEntry]) -> str:
    h = blake3.blake3(kind.encode() + b"\n")
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.digest}\0{f.size}\n".encode())
    return h.hexdigest()
