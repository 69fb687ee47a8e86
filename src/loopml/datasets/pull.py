"""Writing a dataset version out, and loading it into memory."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.api.datasets import DatasetVersion
from loopml.core.errors import Conflict, InvalidInput
from loopml.core.paths import safe_relpath
from loopml.core.refs import parse_ref
from loopml.datasets import repository as repo
from loopml.stores import Stores

Progress = Callable[[int], None]


def resolve(stores: Stores, ref: str, with_files: bool = True) -> DatasetVersion:
    with stores.meta.read() as conn:
        return repo.resolve(conn, parse_ref(ref, "dataset reference"), with_files)


def _target(version: DatasetVersion, dest: Path) -> Path:
    """Where the version lands: a folder version becomes ``dest``; a single file goes to
    ``dest`` or, if ``dest`` is a folder, into it."""
    if version.kind == "folder":
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise Conflict(
                f"destination {str(dest)!r} exists and is not an empty folder; "
                "pull into a new or empty folder"
            )
        return dest
    name = version.files[0].path
    target = dest / name if dest.is_dir() else dest
    if os.path.lexists(target):
        raise Conflict(
            f"destination {str(target)!r} already exists; remove it or pick another path"
        )
    return target


def pull(
    stores: Stores, ref: str, dest: str | os.PathLike[str], progress: Progress | None = None
) -> Path:
    """Write version ``ref`` to ``dest``, every byte verified; nothing is left on failure."""
    version = resolve(stores, ref)
    wants_folder = str(dest).endswith(("/", os.sep))
    dest = Path(dest)
    made = False
    if wants_folder and version.kind != "folder" and not dest.exists():
        # "restore/" names a folder to put the file in, as cp and rsync read it
        if not dest.parent.is_dir():
            raise InvalidInput(f"folder {str(dest.parent)!r} does not exist; create it first")
        dest.mkdir()
        made = True
    try:
        return _pull_into(stores, version, dest, progress)
    except BaseException:
        if made:
            shutil.rmtree(dest, ignore_errors=True)
        raise


def _pull_into(
    stores: Stores, version: DatasetVersion, dest: Path, progress: Progress | None
) -> Path:
    target = _target(version, dest)
    parent = target.parent
    if not parent.is_dir():
        raise InvalidInput(f"folder {str(parent)!r} does not exist; create it first")
    if version.kind != "folder":
        stores.blobs.write_file(version.files[0].digest, target)
        if progress:
            progress(version.files[0].size)
        return target
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.loopml-", dir=parent))
    try:
        for f in version.files:
            out = staging / safe_relpath(f.path)
            out.parent.mkdir(parents=True, exist_ok=True)
            stores.blobs.write_file(f.digest, out)
            if progress:
                progress(f.size)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load(stores: Stores, ref: str) -> Any:
    """A pandas DataFrame for a table version (one CSV or Parquet file, or a DataFrame push);
    otherwise the path of a verified local copy, cached under ``$LOOPML_HOME/cache``."""
    from loopml.datasets.stats import is_table

    version = resolve(stores, ref)
    if len(version.files) == 1 and is_table(Path(version.files[0].path)):
        f = version.files[0]
        data = stores.blobs.read_bytes(f.digest)
        import pandas as pd

        if f.path.endswith((".parquet", ".pq")):
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    cache = stores.settings.cache_dir / "datasets" / version.name / str(version.version)
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".pull-", dir=cache.parent))
        try:
            if version.kind != "folder":
                (tmp / "v").mkdir()
            pull(stores, ref, tmp / "v")
            with contextlib.suppress(OSError):
                os.replace(tmp / "v", cache)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return cache if version.kind == "folder" else cache / version.files[0].path
