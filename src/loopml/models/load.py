"""Resolving a reference, loading a version into memory, and writing its files out.

Loading reads each file through a machine-local cache keyed by digest
(``$LOOPML_HOME/cache/models``), checked against the digest on every read, so a second load
of the same bytes never touches the blob store.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3

from loopml.api.models import ModelFile, ModelVersion
from loopml.blobs.export import export
from loopml.core.errors import InvalidInput, NotFound, PermissionDenied
from loopml.core.paths import safe_relpath
from loopml.core.refs import parse_ref
from loopml.models import repository as repo
from loopml.models.flavors import MANIFEST, get_flavor
from loopml.models.loaded import LoadedModel, loaded
from loopml.stores import Stores

TRUST_ENV = "LOOPML_TRUST_PICKLE"


def resolve(stores: Stores, ref: str, with_files: bool = True) -> ModelVersion:
    with stores.meta.read() as conn:
        return repo.resolve(conn, parse_ref(ref, "model reference"), with_files)


def read_file(stores: Stores, f: ModelFile) -> bytes:
    """The bytes of one version file, from the local cache when it holds them intact."""
    # verified against the digest while reading
    return read_cached(stores.settings.cache_dir, f, lambda: stores.blobs.read_bytes(f.digest))


def read_cached(cache_dir: Path, f: ModelFile, fetch: Callable[[], bytes]) -> bytes:
    """The bytes of ``f`` from the cache under ``cache_dir`` when it holds them intact, else
    ``fetch()`` (which verifies them), kept in the cache for next time."""
    path = cache_dir / "models" / f.digest[:2] / f.digest
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if data is not None and len(data) == f.size and blake3.blake3(data).hexdigest() == f.digest:
        return data
    data = fetch()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs speed
    return data


def _trusted(trusted: bool | None) -> bool:
    if trusted is not None:
        return trusted
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def load_model(stores: Stores, ref: str, trusted: bool | None = None) -> LoadedModel:
    """Load version ``ref`` (``churn``, ``churn@production``, ``churn@7``, ``churn/7``)."""
    return load_version(resolve(stores, ref), lambda f: read_file(stores, f), trusted)


def load_version(
    version: ModelVersion, read: Callable[[ModelFile], bytes], trusted: bool | None = None
) -> LoadedModel:
    """Load ``version`` for prediction, its files read with ``read`` (verified bytes)."""
    flavor = get_flavor(version.flavor)
    if flavor.REQUIRES_TRUST and not _trusted(trusted):
        raise PermissionDenied(
            f"model {version.ref} has the {version.flavor!r} flavor (a cloudpickle file); "
            "loading it runs code from the pickle. If you trust where it came from, pass "
            f"trusted=True to load_model or set {TRUST_ENV}=1"
        )
    by_path = {f.path: f for f in version.files}
    if MANIFEST not in by_path:
        raise InvalidInput(f"model {version.ref} has no {MANIFEST}; it cannot be loaded")
    manifest = json.loads(read(by_path[MANIFEST]))
    wanted = manifest.get("files", [])
    missing = [p for p in wanted if p not in by_path]
    if missing:
        raise InvalidInput(f"model {version.ref} lacks file(s) {', '.join(missing)}")
    files = {p: read(by_path[p]) for p in wanted}
    return loaded(version, flavor.load(files, manifest.get("flavor_meta", {})))


def open_file(stores: Stores, ref: str, path: str) -> tuple[ModelFile, Iterator[bytes]]:
    """File ``path`` of version ``ref`` and its bytes, verified as they are read. A path that
    is not in normal relative form is refused, so nothing outside the version is named."""
    wanted = safe_relpath(path)
    if wanted != path:
        raise InvalidInput(f"file path {path!r} is not in normal form; use {wanted!r}")
    version = resolve(stores, ref)
    for f in version.files:
        if f.path == wanted:
            return f, stores.blobs.iter_file(f.digest)
    raise NotFound(
        f"model {version.ref} has no file {path!r}; its files: "
        + ", ".join(f.path for f in version.files)
    )


def pull(stores: Stores, ref: str, dest: str | os.PathLike[str]) -> tuple[ModelVersion, Path]:
    """Write the files of version ``ref`` into ``dest`` (a new or empty folder), every byte
    verified; nothing is left behind on failure."""
    version = resolve(stores, ref)
    files = [(f.path, f.digest, f.size) for f in version.files]
    return version, export(stores.blobs, files, dest, single=False)
