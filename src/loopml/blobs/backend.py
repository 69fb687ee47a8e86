"""Where blob objects live: a small Protocol, the local-folder backend, and URL dispatch.

A backend stores whole immutable objects under string keys (``packs/ab/abcdef…``). It knows
nothing about chunks or digests; :mod:`loopml.blobs.store` builds content addressing on top.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from loopml.core.errors import InvalidInput, NotFound, StoreError


class Backend(Protocol):
    """Object storage with atomic whole-object writes and range reads."""

    url: str

    def staging_dir(self) -> Path:
        """A local folder for building objects before :meth:`put_file` publishes them."""
        ...

    def has(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Size in bytes; raises NotFound when absent."""
        ...

    def get(self, key: str) -> bytes: ...

    def read_ranges(self, key: str, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
        """Yield the bytes of each ``(offset, length)`` range of one object, in order."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, path: Path) -> None:
        """Publish the finished local file ``path`` (in :meth:`staging_dir`) as ``key``.
        The object appears whole or not at all; ``path`` is consumed."""
        ...

    def delete(self, key: str) -> None: ...

    def mtime(self, key: str) -> float:
        """When the object was written (seconds since the epoch)."""
        ...

    def iter(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """Yield ``(key, size)`` of every object under ``prefix``."""
        ...


@dataclass(frozen=True)
class Leftover:
    """Something an interrupted write left in a staging folder: a partly written pack, an
    upload, a DataFrame's temporary folder."""

    path: Path
    size: int
    mtime: float  # the latest change anywhere inside it


def _tree(path: str) -> tuple[int, float]:
    size, latest = 0, os.lstat(path).st_mtime
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                size += st.st_size
                latest = max(latest, st.st_mtime)
    return size, latest


def staging_leftovers(backend: Backend) -> list[Leftover]:
    """Everything in the backend's staging folder: a running write's files, or what a killed
    one left behind (told apart by the maintenance lock and age, see :mod:`loopml.blobs.gc`)."""
    found = []
    try:
        entries = list(os.scandir(backend.staging_dir()))
    except OSError:
        return []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                size, mtime = _tree(entry.path)
            else:
                st = entry.stat(follow_symlinks=False)
                size, mtime = st.st_size, st.st_mtime
        except OSError:
            continue  # gone meanwhile
        found.append(Leftover(Path(entry.path), size, mtime))
    return sorted(found, key=lambda item: item.path)


def remove_leftover(item: Leftover) -> None:
    """Delete a staging leftover (a folder without following links in it)."""
    if item.path.is_dir() and not item.path.is_symlink():
        shutil.rmtree(item.path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend:
    """Objects as files under a root folder; publishing is fsync + rename."""

    # Packs are built in the staging folder with direct I/O (see PackWriter): they go to the
    # disk anyway before they are published, so passing through the page cache only costs.
    direct_writes = True

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.url = str(self.root)
        self._staging = self.root / "tmp"
        try:
            self._staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create blob folder {self.root}: {exc.strerror}") from exc

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise InvalidInput(f"invalid blob key {key!r}")
        return self.root / key

    def staging_dir(self) -> Path:
        return self._staging

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob object {key!r} is missing from {self.url}") from None

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob object {key!r} is missing from {self.url}") from None

    def read_ranges(self, key: str, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
        try:
            f = open(self._path(key), "rb")  # noqa: SIM115 - closed below, generator body
        except FileNotFoundError:
            raise NotFound(f"blob object {key!r} is missing from {self.url}") from None
        with f:
            for offset, length in ranges:
                f.seek(offset)
                data = f.read(length)
                if len(data) != length:
                    raise StoreError(
                        f"blob object {key!r} is truncated: wanted {length} bytes at {offset}"
                    )
                yield data

    def put_bytes(self, key: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._staging, prefix="put-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self.put_file(key, Path(tmp))

    def put_file(self, key: str, path: Path) -> None:
        dest = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            fsync_dir(dest.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise StoreError(f"cannot write blob object {key!r} to {self.url}: {exc}") from exc

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def mtime(self, key: str) -> float:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            raise NotFound(f"blob object {key!r} is missing from {self.url}") from None

    def iter(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root)
            if rel == "tmp" or rel.startswith("tmp" + os.sep):
                continue
            for name in files:
                key = name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"
                with contextlib.suppress(FileNotFoundError):
                    yield key, os.stat(os.path.join(dirpath, name)).st_size


def open_backend(url: str, staging: Path | None = None) -> Backend:
    """A backend for a folder path or ``file://`` URL, or an ``s3://bucket/prefix`` URL."""
    if url.startswith("s3://"):
        try:
            from loopml.blobs.s3 import S3Backend
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"the S3 backend needs boto3 ({exc.name} is missing); "
                "install it with: pip install 'loopml[s3]'"
            ) from exc
        return S3Backend.from_url(url, staging=staging)
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" in url:
        raise InvalidInput(f"unsupported blob store URL {url!r}: use a folder path or s3://bucket")
    return LocalBackend(Path(url))
