"""Writing a dataset version out, and loading it into memory."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.api.datasets import DatasetVersion
from loopml.api.protocols import Datasets
from loopml.blobs.export import export, staging_folder
from loopml.core.refs import parse_ref
from loopml.datasets import repository as repo
from loopml.datasets.fetch import Fetcher
from loopml.stores import Stores

Progress = Callable[[int], None]


def resolve(stores: Stores, ref: str, with_files: bool = True) -> DatasetVersion:
    with stores.meta.read() as conn:
        return repo.resolve(conn, parse_ref(ref, "dataset reference"), with_files)


def pull(
    service: Datasets, ref: str, dest: str | os.PathLike[str], progress: Progress | None = None
) -> Path:
    """Write version ``ref`` to ``dest`` through ``service`` (its manifest, then the chunks),
    every byte verified; nothing is left on failure.

    As with ``cp``: a single-file version goes into ``dest`` under its own name when ``dest``
    ends with ``/`` (the folder is created) or is an existing folder, else to ``dest`` itself;
    a folder version becomes the folder ``dest``, which must be new or empty."""
    manifest = service.get_manifest(ref)
    files = [(f.path, f.digest, f.size) for f in manifest.files]
    single = manifest.kind != "folder"
    return export(Fetcher(service, manifest), files, dest, single=single, progress=progress)


def load(service: Datasets, cache_dir: Path, ref: str) -> Any:
    """A pandas DataFrame for a table version (one CSV or Parquet file, or a DataFrame push);
    otherwise the path of a verified local copy, cached under ``cache_dir``
    (``$LOOPML_HOME/cache``)."""
    from loopml.datasets.stats import is_table

    version = service.show(ref)
    if len(version.files) == 1 and is_table(Path(version.files[0].path)):
        f = version.files[0]
        data = Fetcher(service, service.get_manifest(version.ref)).read_bytes(f.digest)
        import pandas as pd

        if f.path.endswith((".parquet", ".pq")):
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    cache = cache_dir / "datasets" / version.name / str(version.version)
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        with staging_folder(cache.parent) as tmp:
            if version.kind != "folder":
                (tmp / "v").mkdir()
            pull(service, version.ref, tmp / "v")
            with contextlib.suppress(OSError):  # another process filled the cache first
                os.replace(tmp / "v", cache)
    return cache if version.kind == "folder" else cache / version.files[0].path
