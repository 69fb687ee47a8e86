"""The opened stores one process works with: metadata database plus blob store."""

from __future__ import annotations

from dataclasses import dataclass

from loopml.blobs.backend import open_backend
from loopml.blobs.store import BlobStore
from loopml.core.settings import Settings
from loopml.meta.engine import MetaStore, open_meta


@dataclass
class Stores:
    settings: Settings
    meta: MetaStore
    blobs: BlobStore

    def close(self) -> None:
        self.blobs.hashcache.close()
        self.meta.dispose()


def open_stores(settings: Settings) -> Stores:
    """Open (creating or migrating where needed) the stores ``settings`` point at."""
    settings.prepare_home()  # a home that cannot be used fails here, clearly, before anything
    meta = open_meta(settings.db_url)
    backend = open_backend(settings.blobs_url, staging=settings.home / "tmp")
    blobs = BlobStore(backend, meta, cache_path=settings.cache_dir / "hashcache.db")
    return Stores(settings=settings, meta=meta, blobs=blobs)
