"""What a push reads: the files of a file or folder source (checked before anything is
written, confined to the folder: see :mod:`loopml.blobs.walk`), the digest that names a
version's content, and who is pushing. Standard library and BLAKE3 only, so the CLI's
unchanged-data check can use it before SQLAlchemy loads."""

from __future__ import annotations

import os
from pathlib import Path

import blake3

from loopml.api.datasets import FileEntry
from loopml.blobs.walk import check_link, check_regular, files_under, stored_name
from loopml.core.errors import InvalidInput
from loopml.core.paths import safe_relpath, shown


def collect(source: Path) -> list[tuple[str, Path]]:
    """(stored path, real path) of every file to push, checked before anything is written."""
    if not os.path.lexists(source):
        raise InvalidInput(f"path {shown(source)} does not exist; check the path and try again")
    if os.path.islink(source):
        check_link(source)
    if source.is_file():
        rel = stored_name(source, source.name)
        check_regular(source, rel)
        return [(safe_relpath(rel), source)]
    if not source.is_dir():
        raise InvalidInput(
            f"{shown(source)} is not a regular file or a folder; push a file or a folder"
        )
    found = files_under(source)
    if not found:
        raise InvalidInput(f"folder {shown(source)} holds no files; nothing to push")
    return found


def content_digest(kind: str, files: list[FileEntry]) -> str:
    h = blake3.blake3(kind.encode() + b"\n")
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.digest}\0{f.size}\n".encode())
    return h.hexdigest()
