"""The unchanged-data answer of a push, found without opening the stores.

A re-push of data that has not changed is the commonest push of all (a pipeline step or a cron
job pushing its folder every run). When every file's (path, size, mtime, inode) is in the
hash cache, the version's content digest is known without reading a byte, and one SELECT on the
embedded database tells whether it is the latest version already. That check needs neither
SQLAlchemy nor the blob store, so the CLI answers in a small fraction of its usual start-up
time. Whenever the answer is not certain (a file missing from the cache, another database,
a remote server) this returns None and the regular push decides.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from loopml.api.datasets import FileEntry, PushResult
from loopml.blobs.hashcache import HashCache
from loopml.core.names import validate_name
from loopml.core.settings import Settings
from loopml.datasets.rows import version_from_row
from loopml.datasets.sources import collect, content_digest
from loopml.meta.lite import open_reader

_LATEST = (
    "SELECT v.* FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
    "WHERE d.name = ? ORDER BY v.version DESC LIMIT 1"
)


def unchanged_push(
    settings: Settings, name: str, source: str | os.PathLike[str]
) -> PushResult | None:
    """The latest version of ``name`` as an uncreated :class:`PushResult` if ``source``
    holds exactly its content; None when that cannot be told from the hash cache alone."""
    started = time.perf_counter()
    if settings.uri:
        return None
    validate_name(name, "dataset name")
    path = Path(source)
    files = collect(path)
    kind = "file" if path.is_file() else "folder"
    conn = open_reader(settings.db_url)
    if conn is None:
        return None
    cache = HashCache(settings.cache_dir / "hashcache.db", create=False)
    try:
        entries = []
        for rel, real in files:
            st = real.stat()
            digest = cache.get(str(real.absolute()), st)
            if digest is None:
                return None
            entries.append(FileEntry(rel, st.st_size, digest))
        row = conn.execute(_LATEST, (name,)).fetchone()
    finally:
        cache.close()
        conn.close()
    if row is None or row.content_digest != content_digest(kind, entries):
        return None
    row.meta = json.loads(row.meta) if isinstance(row.meta, str) else row.meta
    row.stats = json.loads(row.stats) if isinstance(row.stats, str) else row.stats
    version = version_from_row(name, row)
    return PushResult(version, False, 0, 0, time.perf_counter() - started)
