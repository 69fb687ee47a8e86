"""``Datasets`` over HTTP. A push chunks and hashes on this machine (the same code as an
embedded push, with this machine's hash cache), asks the server which chunks it lacks, and
uploads only those: in batches of frames, several requests in flight, each batch recorded by
the server on its own, so a push that is interrupted and run again sends only what is still
missing. A pull reads the manifest and fetches the chunks it lacks, each verified."""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loopml.api import codec
from loopml.api.datasets import (
    Chunk,
    ChunkRef,
    DatasetSummary,
    DatasetVersion,
    Manifest,
    PushResult,
)
from loopml.api.frames import HEADER_BYTES, MEDIA_TYPE, FrameReader, frame_header
from loopml.blobs.hashcache import HashCache
from loopml.client.http import Http
from loopml.core.names import validate_name
from loopml.core.refs import parse_ref
from loopml.datasets import pull as pull_mod
from loopml.datasets import push as push_mod

BATCH_BYTES = 8 * 1024 * 1024  # one upload request (well under the server's body limit)
UPLOADS = 4  # upload requests in flight at once
_MISSING_PER_CALL = 5_000


class RemoteDatasets:
    """The datasets of a ``loopml server``; ``bytes_uploaded`` counts chunk bytes sent."""

    def __init__(self, http: Http, cache_dir: Path) -> None:
        self.http = http
        self.cache_dir = cache_dir
        self.batch_bytes = BATCH_BYTES
        self.bytes_uploaded = 0
        self.requests_uploaded = 0
        self._lock = threading.Lock()
        self._hashes: HashCache | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(UPLOADS * 2)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._hashes is not None:
                self._hashes.close()
                self._hashes = None

    # ---------- the SDK side ----------
    def push(
        self,
        name: str,
        source: Any,
        message: str | None = None,
        meta: dict[str, Any] | None = None,
        progress: push_mod.Progress | None = None,
    ) -> PushResult:
        return push_mod.push(
            self, self.hashes(), self.cache_dir / "push", name, source, message, meta, progress
        )

    def pull(
        self, ref: str, dest: str | os.PathLike[str], progress: pull_mod.Progress | None = None
    ) -> Path:
        return pull_mod.pull(self, ref, dest, progress)

    def load(self, ref: str) -> Any:
        return pull_mod.load(self, self.cache_dir, ref)

    def show(self, ref: str) -> DatasetVersion:
        parsed = parse_ref(ref, "dataset reference").without_alias("dataset")
        if parsed.version is not None:
            return self.http.get(
                f"/datasets/{parsed.name}/versions/{parsed.version}", DatasetVersion
            )
        return self.http.get("/datasets/resolve", DatasetVersion, {"ref": ref})

    def list(self) -> builtins.list[DatasetSummary]:
        return builtins.list(self.http.pages("/datasets", DatasetSummary))

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        validate_name(name, "dataset name")
        return builtins.list(self.http.pages(f"/datasets/{name}/versions", DatasetVersion))

    def diff(self, a: str, b: str) -> dict[str, Any]:
        return self.http.get("/datasets/diff", dict[str, Any], {"a": a, "b": b})

    def hashes(self) -> HashCache:
        """This machine's hash cache (opened on first use)."""
        with self._lock:
            if self._hashes is None:
                self._hashes = HashCache(self.cache_dir / "hashcache.db")
            return self._hashes

    # ---------- chunk transfer ----------
    def missing_chunks(self, digests: Sequence[str]) -> builtins.list[str]:
        missing: builtins.list[str] = []
        for start in range(0, len(digests), _MISSING_PER_CALL):
            part = builtins.list(digests[start : start + _MISSING_PER_CALL])
            answer = self.http.send(
                "POST", "/chunks/missing", {"digests": part}, dict[str, builtins.list[str]]
            )
            missing.extend(answer["missing"])
        return missing

    def put_chunks(self, chunks: Iterable[Chunk]) -> builtins.list[ChunkRef]:
        """Upload ``chunks`` in batches of up to :data:`BATCH_BYTES`, several in flight; each
        batch is verified and recorded by the server on its own (what a resumed push skips).
        The bytes of a chunk may be a view into the sender's buffer: each is copied into its
        batch before the next is taken."""
        pending: builtins.list[Future[builtins.list[ChunkRef]]] = []
        batch: builtins.list[bytes] = []
        size = 0
        try:
            for digest, data in chunks:
                batch.append(frame_header(digest, len(data)))
                batch.append(bytes(data))
                size += HEADER_BYTES + len(data)
                if size >= self.batch_bytes:
                    pending.append(self._submit(batch, size))
                    batch, size = [], 0
                    _raise_first_failure(pending)  # stop reading once an upload failed
            if batch:
                pending.append(self._submit(batch, size))
        except BaseException:
            for f in pending:
                f.exception()  # what was handed off lands (a re-run skips it), then re-raise
            raise
        stored: builtins.list[ChunkRef] = []
        for f in pending:
            stored.extend(f.result())
        return stored

    def _submit(self, batch: builtins.list[bytes], size: int) -> Future[builtins.list[ChunkRef]]:
        self._slots.acquire()  # a bound on the batches held in memory
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(UPLOADS, thread_name_prefix="loopml-upload")
            pool = self._pool
        try:
            future = pool.submit(self._upload, batch, size)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _f: self._slots.release())
        return future

    def _upload(self, batch: builtins.list[bytes], size: int) -> builtins.list[ChunkRef]:
        response = self.http.request(
            "POST",
            "/chunks",
            content=iter(batch),  # streamed as the request body (chunked), no joined copy
            headers={"Content-Type": MEDIA_TYPE},
        )
        with self._lock:
            self.bytes_uploaded += size
            self.requests_uploaded += 1
        return codec.decode(response.content, dict[str, builtins.list[ChunkRef]])["stored"]

    def commit_version(self, name: str, manifest: Manifest) -> PushResult:
        validate_name(name, "dataset name")
        return self.http.send("POST", f"/datasets/{name}/versions", manifest, PushResult)

    def get_manifest(self, ref: str) -> Manifest:
        version = self.show(ref)
        return self.http.get(
            f"/datasets/{version.name}/versions/{version.version}/manifest", Manifest
        )

    def get_chunks(self, digests: Sequence[str]) -> Iterator[Chunk]:
        if not digests:
            return
        with self.http.stream(
            "POST", "/chunks/get", json={"digests": builtins.list(digests)}
        ) as response:
            yield from FrameReader(response.iter_bytes())


def _raise_first_failure(pending: builtins.list[Future[builtins.list[ChunkRef]]]) -> None:
    for f in pending:
        if f.done() and f.exception() is not None:
            f.result()


def build(http: Http, services: Any) -> RemoteDatasets:
    return RemoteDatasets(http, services.settings.cache_dir)
