"""The narrow port between the pipeline engine (coordinator, step workers) and where a run is
recorded: run and step rows, the step cache, and output files. :class:`StoredRecords` writes
the local stores; ``loopml.client.pipelines.HttpRecords`` sends the same calls to a ``loopml
server``, whose routes hand them to a :class:`StoredRecords` over its stores. The rules (legal
moves, which fields a move may set, outputs stored only with a step's success) live here once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from loopml.api.pipelines import (
    FileChunks,
    Output,
    PipelineRun,
    RunStatus,
    StepRun,
    StepStatus,
    StoredFiles,
)
from loopml.blobs.packs import pack_key
from loopml.core.errors import Conflict, InvalidInput
from loopml.core.identity import whoami
from loopml.core.names import is_digest, validate_name
from loopml.core.paths import safe_relpath
from loopml.core.settings import Settings
from loopml.pipelines import repository as repo

# What a step move may set besides its status (the columns a client may write).
STEP_FIELDS = frozenset(
    {
        "start_time",
        "end_time",
        "worker",
        "cache_key",
        "cached_from",
        "stdout",
        "stderr",
        "error",
        "decision",
        "metrics",
        "datasets",
    }
)
RUN_OPTIONS = frozenset({"workers", "no_cache", "ray_address", "notes"})


class Staged(Protocol):
    """Output files being stored for one step: their bytes made durable by ``finish``, their
    file records written by the step's completion."""

    def add_bytes(self, data: bytes) -> Any: ...

    def add_path(self, path: Path) -> Any: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...

    def remember_hashes(self) -> None: ...


class Records(Protocol):
    """What the engine needs from wherever runs are recorded."""

    settings: Settings

    def start_run(self, run: Mapping[str, Any], steps: list[Mapping[str, Any]]) -> None: ...

    def end_run(self, run_id: str, status: RunStatus, error: str | None) -> None: ...

    def get_run(self, run_id: str) -> PipelineRun: ...

    def list_runs(self, pipeline: str | None, limit: int) -> list[PipelineRun]: ...

    def move_step(self, run_id: str, step: str, new: StepStatus, **fields: Any) -> None: ...

    def fail_step(self, run_id: str, step: str, error: str) -> StepStatus: ...

    def abort(self, run_id: str, reason: str) -> None: ...

    def cache_candidates(self, key: str) -> list[StepRun]: ...

    def files_stored(self, digests: set[str]) -> bool: ...

    def take_cached(self, run_id: str, step: str, key: str, source: StepRun) -> None: ...

    def stage(self) -> Staged: ...

    def complete_step(
        self,
        run_id: str,
        step: str,
        staged: Staged | None,
        outputs: list[Output],
        **fields: Any,
    ) -> None: ...

    def read_bytes(self, digest: str) -> bytes: ...

    def write_file(self, digest: str, dest: Path) -> None: ...

    def close(self) -> None: ...


def check_digest(value: Any, what: str) -> None:
    if not is_digest(value):
        raise InvalidInput(f"{what} {value!r} is not a BLAKE3 digest (64 lowercase hex digits)")


def check_outputs(outputs: Iterable[Output]) -> None:
    """InvalidInput naming the first thing wrong in outputs sent to be recorded."""
    for o in outputs:
        if not o.name or not o.materializer:
            raise InvalidInput(f"an output needs a name and a materializer, got {o.name!r}")
        check_digest(o.digest, f"output {o.name!r} digest")
        for f in o.files:
            if safe_relpath(f.path) != f.path:
                raise InvalidInput(f"output {o.name!r}: path {f.path!r} is not in normal form")
            check_digest(f.digest, f"output {o.name!r} file digest")
            if f.size < 0:
                raise InvalidInput(f"output {o.name!r}: file {f.path!r} has a negative size")


def check_fields(fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - STEP_FIELDS)
    if unknown:
        raise InvalidInput(
            f"a step move cannot set {', '.join(unknown)}; it sets only "
            f"{', '.join(sorted(STEP_FIELDS))}"
        )


def run_row(run: Mapping[str, Any]) -> dict[str, Any]:
    """The row of a new run from what its coordinator sends: it starts running, written by
    whoever asks (never what the caller claims)."""
    validate_name(str(run.get("pipeline", "")), "pipeline name")
    run_id = run.get("id")
    if not isinstance(run_id, str) or not run_id or len(run_id) > 64 or not run_id.isalnum():
        raise InvalidInput(f"pipeline run id {run_id!r} is not a run id")
    options = dict(run.get("options") or {})
    unknown = sorted(set(options) - RUN_OPTIONS)
    if unknown:
        raise InvalidInput(f"unknown run option {unknown[0]!r}")
    return {
        "id": run_id.lower(),
        "pipeline": run["pipeline"],
        "source": str(run.get("source", ""))[:1024],
        "params": dict(run.get("params") or {}),
        "status": RunStatus.RUNNING.value,
        "executor": str(run.get("executor", "local")),
        "options": options,
        "resumed_from": run.get("resumed_from"),
        "start_time": time.time(),
        "end_time": None,
        "created_by": whoami(),
        "error": None,
    }


def step_rows(steps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    seen: set[str] = set()
    for i, s in enumerate(steps):
        name = s.get("name")
        if not isinstance(name, str) or not name or name in seen:
            raise InvalidInput(f"step {i}: a missing or repeated step name {name!r}")
        seen.add(name)
        rows.append(
            {
                "name": name,
                "position": i,
                "func": str(s.get("func", ""))[:512],
                "upstream": [str(u) for u in s.get("upstream") or ()],
                "inputs": dict(s.get("inputs") or {}),
                "status": StepStatus.PENDING.value,
            }
        )
    return rows


class StoredRecords:
    """:class:`Records` over the local stores (the embedded backend, and the server's side)."""

    def __init__(self, stores: Any) -> None:
        self.stores = stores
        self.settings: Settings = stores.settings

    def close(self) -> None:
        self.stores.close()

    # ---------- runs ----------
    def start_run(self, run: Mapping[str, Any], steps: list[Mapping[str, Any]]) -> None:
        row, rows = run_row(run), step_rows(steps)
        with self.stores.meta.write() as conn:
            if repo.run_exists(conn, row["id"]):
                raise Conflict(f"pipeline run {row['id']} exists already; start a new run")
            repo.insert_run(conn, row, rows)

    def end_run(self, run_id: str, status: RunStatus, error: str | None) -> None:
        with self.stores.meta.write() as conn:
            repo.move_run(conn, run_id, status, end_time=time.time(), error=error)

    def get_run(self, run_id: str) -> PipelineRun:
        with self.stores.meta.read() as conn:
            return repo.get_run(conn, repo.resolve_run_id(conn, run_id))

    def list_runs(self, pipeline: str | None, limit: int) -> list[PipelineRun]:
        with self.stores.meta.read() as conn:
            return repo.list_runs(conn, pipeline, limit)

    # ---------- steps ----------
    def move_step(self, run_id: str, step: str, new: StepStatus, **fields: Any) -> None:
        check_fields(fields)
        with self.stores.meta.write() as conn:
            repo.move_step(conn, run_id, step, new, **fields)

    def fail_step(self, run_id: str, step: str, error: str) -> StepStatus:
        """Fail a step that has not ended (its worker died or could not load it); returns
        the status it had, so a step that committed its success first stays as it is."""
        with self.stores.meta.write() as conn:
            status = repo.step_status(conn, run_id, step, lock=True)
            if not status.is_terminal:
                fields: dict[str, Any] = {"error": error, "end_time": time.time()}
                if status is StepStatus.PENDING:
                    fields["start_time"] = fields["end_time"]
                repo.move_step(conn, run_id, step, StepStatus.FAILED, **fields)
        return status

    def abort(self, run_id: str, reason: str) -> None:
        with self.stores.meta.write() as conn:
            for name in repo.running_steps(conn, run_id):
                repo.move_step(
                    conn, run_id, name, StepStatus.FAILED, error=reason, end_time=time.time()
                )

    # ---------- the cache ----------
    def cache_candidates(self, key: str) -> list[StepRun]:
        check_digest(key, "cache key")
        with self.stores.meta.read() as conn:
            return repo.cache_candidates(conn, key)

    def files_stored(self, digests: set[str]) -> bool:
        """Whether every file is recorded and every chunk of it sits in a pack that exists."""
        return not self.stored_files(digests).missing

    def stored_files(self, digests: Iterable[str]) -> StoredFiles:
        """The chunk lists of the files among ``digests`` stored whole, and the others."""
        wanted = sorted(set(digests))
        for d in wanted:
            check_digest(d, "file digest")
        blobs = self.stores.blobs
        found: dict[str, tuple[int, list[bytes]]] = {}
        missing: set[str] = set()
        pack_of: dict[str, set[str]] = {}
        with self.stores.meta.read() as conn:
            missing |= repo.missing_files(conn, set(wanted))
            for d in wanted:
                if d in missing:
                    continue
                size, chunk_ids = blobs.chunk_list(conn, d)
                where = blobs.locate(conn, chunk_ids)
                if len(where) != len(set(chunk_ids)):
                    missing.add(d)
                    continue
                found[d] = (size, chunk_ids)
                pack_of[d] = {p for p, _, _ in where.values()}
        present = {p: blobs.backend.has(pack_key(p)) for ps in pack_of.values() for p in ps}
        for d, ps in pack_of.items():
            if not all(present[p] for p in ps):
                missing.add(d)
                found.pop(d, None)
        return StoredFiles(
            {
                d: FileChunks(size, tuple(c.hex() for c in order))
                for d, (size, order) in found.items()
            },
            tuple(sorted(missing)),
        )

    def take_cached(self, run_id: str, step: str, key: str, source: StepRun) -> None:
        check_outputs(source.outputs)
        check_digest(key, "cache key")
        digests = {f.digest for o in source.outputs for f in o.files}
        now = time.time()
        with self.stores.meta.write() as conn:
            repo.move_step(
                conn,
                run_id,
                step,
                StepStatus.CACHED,
                cache_key=key,
                cached_from=source.cached_from,
                start_time=now,
                end_time=now,
                decision=source.decision,
                metrics=source.metrics,
                datasets=list(source.datasets) or None,
            )
            if repo.missing_files(conn, digests):
                raise Conflict(
                    f"the cached outputs offered for step {step!r} name files that are not "
                    "stored; run the step again"
                )
            repo.insert_outputs(conn, run_id, step, source.outputs)

    # ---------- outputs ----------
    def stage(self) -> Staged:
        return self.stores.blobs.ingest()  # type: ignore[no-any-return]

    def complete_step(
        self,
        run_id: str,
        step: str,
        staged: Any,
        outputs: list[Output],
        **fields: Any,
    ) -> None:
        """Succeed a step with its outputs in one transaction: the move first (it fails when
        the step is no longer this worker's to complete), then the files, then the outputs.
        ``staged`` commits its file records on the transaction (``commit(conn)``)."""
        check_fields(fields)
        check_outputs(outputs)
        with self.stores.blobs.gc_off(), self.stores.meta.write() as conn:
            repo.move_step(conn, run_id, step, StepStatus.SUCCEEDED, **fields)
            if staged is not None:
                staged.commit(conn)
            missing = repo.missing_files(conn, {f.digest for o in outputs for f in o.files})
            if missing:
                raise Conflict(
                    f"output file {sorted(missing)[0]} of step {step!r} is not stored; "
                    "send its chunks and its chunk list with the outputs"
                )
            repo.insert_outputs(conn, run_id, step, outputs)

    def read_bytes(self, digest: str) -> bytes:
        return self.stores.blobs.read_bytes(digest)  # type: ignore[no-any-return]

    def write_file(self, digest: str, dest: Path) -> None:
        self.stores.blobs.write_file(digest, dest)


class ChunkedFiles:
    """Output files whose chunks a client already sent: their records, written when the step
    completes (each chunk must be stored, the sizes must add up)."""

    def __init__(self, files: list[tuple[str, int, list[bytes]]]) -> None:
        self.files = files

    @classmethod
    def from_wire(cls, files: Mapping[str, FileChunks]) -> ChunkedFiles:
        out = []
        for digest, f in files.items():
            check_digest(digest, "file digest")
            if f.size < 0 or (f.size > 0 and not f.chunks):
                raise InvalidInput(f"file {digest}: {f.size} bytes in {len(f.chunks)} chunks")
            for c in f.chunks:
                check_digest(c, "chunk digest")
            out.append((digest, f.size, [bytes.fromhex(c) for c in f.chunks]))
        return cls(out)

    def commit(self, conn: Any) -> None:
        from loopml.blobs import chunks as blob_chunks

        blob_chunks.record_files(conn, self.files)


def open_records(settings: Settings) -> StoredRecords:
    """The records over stores opened from ``settings`` (what a step worker opens)."""
    from loopml.stores import open_stores

    return StoredRecords(open_stores(settings))


def as_records(found: Any) -> Records:
    """``found`` as records: opened stores are wrapped."""
    from loopml.stores import Stores

    if isinstance(found, Stores):
        return StoredRecords(found)
    return found  # type: ignore[no-any-return]
