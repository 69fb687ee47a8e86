"""Writing stored files out to a local destination (dataset and model pulls), creating only
what it writes.

A pull never follows, replaces or writes through a path it did not create. It works in a
fresh private staging folder made beside the destination by ``mkdtemp`` (``.loopml-pull-…``,
locked with ``flock`` while in use), creates every file there exclusively under a short name,
fsyncs, then puts the result in place: a file by a hard link that fails if the name is taken, a
folder by a rename. A staging folder left by a killed pull is removed by the next pull into the
same folder once it is unlocked and older than :data:`STALE_AFTER_S`.

Where a version lands follows ``cp``: a destination that ends with ``/`` or is an existing
folder receives a single-file version inside it under the file's name; a folder version (and a
model) becomes the destination folder itself, which must be new or empty.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from loopml.blobs.backend import fsync_dir
from loopml.core.errors import Conflict, InvalidInput, LoopError, StoreError
from loopml.core.paths import names_folder, safe_relpath, shown

try:  # flock tells a running pull's staging folder from a dead one's
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

STAGING_PREFIX = ".loopml-pull-"
# A staging folder this young may belong to a pull that has not locked it yet.
STALE_AFTER_S = 60.0
_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_REFUSED_NAME = {errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ}
_NO_ACCESS = {errno.EACCES, errno.EPERM, errno.EROFS}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
# link() errors that mean "no hard links here" (FAT, some network and FUSE file systems)
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}

Progress = Callable[[int], None]


class Source(Protocol):
    """Where a pull's bytes come from: the blob store itself, or a client fetching chunks."""

    def write_to(self, digest: str, f: BinaryIO) -> None:
        """Write the verified bytes of stored file ``digest`` to ``f``, then fsync it."""
        ...


# (stored path, digest, size) of each file of a version
Files = Sequence[tuple[str, str, int]]


def export(
    store: Source,
    files: Files,
    dest: str | os.PathLike[str],
    *,
    single: bool,
    progress: Progress | None = None,
) -> Path:
    """Write ``files`` to ``dest`` (see the module docstring for where), every byte verified;
    nothing of the pull is left on failure. Returns the path written."""
    raw = os.fspath(dest)
    if not raw or "\x00" in raw:
        raise InvalidInput(
            f"destination {shown(raw)} is empty or holds a NUL character; "
            "give a file or folder path"
        )
    path = Path(raw)
    _check_name(path.parent, path.name)
    made: Path | None = None
    # os.path's checks, not Path's: they answer False (not raise) on a name too long
    if single:
        if names_folder(raw) or os.path.isdir(path):
            if not os.path.isdir(path):
                if os.path.lexists(path):
                    raise _taken(path)
                _check_parent(path.parent)
                made = _mkdir_new(path)
            target = path / safe_relpath(files[0][0])
        else:
            target = path
        if os.path.lexists(target):
            raise _taken(target)
    else:
        target = path
        if os.path.islink(target):
            raise _taken(target)
        if os.path.lexists(target) and not _empty_folder(target):
            raise Conflict(
                f"destination {shown(target)} exists and is not an empty folder; "
                "pull into a new or empty folder"
            )
    try:
        parent = target.parent
        _check_parent(parent)
        _check_name(parent, target.name)
        with staging_folder(parent) as staging:
            if single:
                _, digest, size = files[0]
                tmp = staging / "f"
                _write(store, digest, tmp, shown(target))
                if progress:
                    progress(size)
                _place_file(tmp, target)
            else:
                _place_folder(_write_tree(store, files, staging, progress), target)
            with contextlib.suppress(OSError):  # a folder we may write but not read
                fsync_dir(parent)
    except BaseException:
        if made is not None:
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    return target


def _empty_folder(path: Path) -> bool:
    if not os.path.isdir(path):
        return False
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError as exc:
        raise _os_error(exc, f"folder {shown(path)}") from exc


def _taken(path: Path) -> LoopError:
    if os.path.islink(path):
        return InvalidInput(
            f"destination {shown(path)} is a symbolic link; a pull never writes through a "
            "link: remove it or pull to another path"
        )
    return Conflict(f"destination {shown(path)} already exists; remove it or pick another path")


def _check_parent(parent: Path) -> None:
    # the parent may be a link (a symlinked home); it is the user's own choice of folder
    if not os.path.isdir(parent):
        raise InvalidInput(f"folder {shown(parent)} does not exist; create it first")


def _check_name(parent: Path, name: str) -> None:
    try:
        limit = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    size = len(os.fsencode(name))
    if limit > 0 and size > limit:
        raise InvalidInput(
            f"the file system refuses the name {shown(name)}: {size} bytes, at most {limit} "
            f"in {shown(parent)}; pull to a shorter name"
        )


def _mkdir_new(path: Path) -> Path:
    try:
        os.mkdir(path)
    except FileExistsError:
        raise _taken(path) from None
    except OSError as exc:
        raise _os_error(exc, f"folder {shown(path)}") from exc
    return path


def _os_error(exc: OSError, what: str) -> LoopError:
    """The user-facing error for a failed write of ``what``."""
    reason = exc.strerror or str(exc)
    if exc.errno in _REFUSED_NAME:
        return InvalidInput(
            f"the file system refuses the name of {what}: {reason}; pull to another name or folder"
        )
    if exc.errno in _NO_ACCESS:
        return InvalidInput(f"cannot write {what}: {reason}; check the folder's permissions")
    if exc.errno in _NO_SPACE:
        return StoreError(f"cannot write {what}: {reason}; free some space and pull again")
    return StoreError(f"cannot write {what}: {reason}")


@contextlib.contextmanager
def staging_folder(parent: Path) -> Iterator[Path]:
    """A fresh private folder in ``parent``, locked while in use, then removed; a killed
    process's is removed by the next use of ``parent``."""
    sweep_stale(parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    except OSError as exc:
        raise _os_error(exc, f"in folder {shown(parent)}") from exc
    fd = -1
    try:
        fd = os.open(staging, os.O_RDONLY)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if fd >= 0:
            os.close(fd)


def sweep_stale(parent: Path, older_than_s: float = STALE_AFTER_S) -> int:
    """Remove staging folders of dead pulls from ``parent`` (prefix, owner, age and no lock
    decide; nothing else is touched). Returns how many were removed."""
    if fcntl is None:
        return 0
    removed = 0
    cutoff = time.time() - older_than_s
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != os.geteuid():
                continue
            if st.st_mtime > cutoff:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # a running pull holds it (or locks do not work here): keep it
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += not os.path.lexists(entry.path)
        finally:
            os.close(fd)
    return removed


def _write(store: Source, digest: str, path: Path, what: str) -> None:
    """Create ``path`` exclusively (never through a link) and write a stored file into it."""
    try:
        fd = os.open(path, _CREATE, 0o666)
    except OSError as exc:
        raise _os_error(exc, what) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            store.write_to(digest, f)
    except OSError as exc:
        raise _os_error(exc, what) from exc


def _write_tree(store: Source, files: Files, staging: Path, progress: Progress | None) -> Path:
    root = staging / "v"
    os.mkdir(root)  # not mkdtemp: the version folder gets the user's usual permissions
    made = {root}
    for rel, digest, size in files:
        out = root / safe_relpath(rel)
        folder = out.parent
        missing = []
        while folder not in made:
            missing.append(folder)
            folder = folder.parent
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except OSError as exc:
                raise _os_error(exc, f"folder {shown(rel)} of the version") from exc
            made.add(d)
        _write(store, digest, out, f"file {shown(rel)} of the version")
        if progress:
            progress(size)
    for d in sorted(made, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(d)
    return root


def _place_file(tmp: Path, target: Path) -> None:
    what = shown(target)
    try:
        os.link(tmp, target, follow_symlinks=False)  # fails if anything took the name since
        return
    except FileExistsError:
        raise _taken(target) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise _os_error(exc, what) from exc
    if os.path.lexists(target):
        raise _taken(target)
    try:
        os.rename(tmp, target)
    except OSError as exc:
        raise _os_error(exc, what) from exc


def _place_folder(root: Path, target: Path) -> None:
    try:
        os.rename(root, target)  # replaces only an empty folder, never a link or a file
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise Conflict(
                f"destination {shown(target)} is no longer an empty folder; "
                "pull into a new or empty folder"
            ) from None
        if exc.errno == errno.ENOTDIR or os.path.islink(target):
            raise _taken(target) from None
        raise _os_error(exc, shown(target)) from exc
