"""The dataset registry's one entry point over the stores."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from loopml.api.datasets import (
    Chunk,
    ChunkRef,
    DatasetSummary,
    DatasetVersion,
    Manifest,
    PushResult,
)
from loopml.core.names import validate_name
from loopml.datasets import commit as commit_mod
from loopml.datasets import pull as pull_mod
from loopml.datasets import push as push_mod
from loopml.datasets import repository as repo
from loopml.datasets.diff import diff_versions
from loopml.stores import Stores


class DatasetService:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def push(
        self,
        name: str,
        source: Any,
        message: str | None = None,
        meta: dict[str, Any] | None = None,
        progress: push_mod.Progress | None = None,
    ) -> PushResult:
        # The SDK side of a push, driving this service through its transfer calls only. In
        # this process the push also holds gc off from start to end, as a write session does,
        # so no commit has to be retried because a gc took chunks the push reuses.
        scratch = self.stores.settings.cache_dir / "push"
        hashes = self.stores.blobs.hashcache
        with self.stores.blobs.gc_off():
            return push_mod.push(self, hashes, scratch, name, source, message, meta, progress)

    def pull(
        self, ref: str, dest: str | os.PathLike[str], progress: pull_mod.Progress | None = None
    ) -> Path:
        return pull_mod.pull(self, ref, dest, progress)

    def load(self, ref: str) -> Any:
        return pull_mod.load(self, self.stores.settings.cache_dir, ref)

    def show(self, ref: str) -> DatasetVersion:
        return pull_mod.resolve(self.stores, ref)

    def list(self) -> builtins.list[DatasetSummary]:
        with self.stores.meta.read() as conn:
            return repo.list_datasets(conn)

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        validate_name(name, "dataset name")
        with self.stores.meta.read() as conn:
            return repo.list_versions(conn, name)

    def diff(self, a: str, b: str) -> dict[str, Any]:
        return diff_versions(self.show(a), self.show(b))

    # ---------- chunk transfer (what a push and a pull are made of) ----------
    def missing_chunks(self, digests: Sequence[str]) -> builtins.list[str]:
        return commit_mod.missing_chunks(self.stores, digests)

    def put_chunks(self, chunks: Iterable[Chunk]) -> builtins.list[ChunkRef]:
        return commit_mod.put_chunks(self.stores, chunks)

    def commit_version(self, name: str, manifest: Manifest) -> PushResult:
        return commit_mod.commit_version(self.stores, name, manifest)

    def get_manifest(self, ref: str) -> Manifest:
        return commit_mod.get_manifest(self.stores, ref)

    def get_chunks(self, digests: Sequence[str]) -> Iterator[Chunk]:
        return commit_mod.get_chunks(self.stores, digests)
