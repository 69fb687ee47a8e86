"""``Pipelines`` over HTTP. A pipeline runs here, as it does embedded: this process plans and
coordinates it, its executor's workers (local processes, or Ray) run the steps. What the
embedded engine writes to the stores goes to the server instead, through
:class:`HttpRecords`: run and step rows, cache lookups, and output files, whose chunks move
like a dataset push (``POST /chunks/missing``, then only the missing ones to ``POST
/chunks``) and come back like a pull (``POST /chunks/get``), each verified."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import blake3

from loopml.api.pipelines import (
    CachedStep,
    FileChunks,
    FileDigests,
    Output,
    PipelineRun,
    Reason,
    RunEnd,
    RunStart,
    RunStatus,
    StepDone,
    StepMove,
    StepRun,
    StepStatus,
    StoredFiles,
)
from loopml.blobs.store import StoredFile
from loopml.client.datasets import RemoteDatasets
from loopml.client.http import Http
from loopml.core.errors import IntegrityError, InvalidInput, NotFound
from loopml.core.paths import write_replacing
from loopml.core.settings import Settings
from loopml.pipelines.records import Records
from loopml.pipelines.service import PipelineService

# Chunks held before they are offered to the server (one question, one upload).
STAGE_BYTES = 8 * 1024 * 1024


def _q(text: str) -> str:
    return quote(text, safe="")


class HttpStaged:
    """Output files of one step, chunked here; chunks the server lacks are uploaded in
    batches, and the files' chunk lists go with the step's completion."""

    def __init__(self, datasets: RemoteDatasets) -> None:
        self.datasets = datasets
        self.files: dict[str, FileChunks] = {}
        self._held: dict[str, bytes] = {}
        self._held_bytes = 0

    def add_bytes(self, data: bytes) -> StoredFile:
        from loopml.blobs.chunker import BytesChunks

        return self._add(BytesChunks(data))

    def add_path(self, path: Path) -> StoredFile:
        from loopml.blobs.chunker import FileChunks as Chunker

        with open(path, "rb") as f:
            return self._add(Chunker(f))

    def _add(self, chunker: Any) -> StoredFile:
        order: list[str] = []
        for block in chunker:
            for digest, view in block:
                d = digest.hex()
                order.append(d)
                if d not in self._held:
                    self._held[d] = bytes(view)
                    self._held_bytes += len(view)
            if self._held_bytes >= STAGE_BYTES:
                self._send()
        self.files[chunker.digest] = FileChunks(chunker.size, tuple(order))
        return StoredFile(chunker.digest, chunker.size)

    def _send(self) -> None:
        if not self._held:
            return
        missing = self.datasets.missing_chunks(builtins.list(self._held))
        self.datasets.put_chunks((d, self._held[d]) for d in missing)
        self._held.clear()
        self._held_bytes = 0

    def finish(self) -> None:
        self._send()

    def abort(self) -> None:
        # Chunks sent already stay unreferenced until ``loopml gc`` removes them.
        self._held.clear()

    def remember_hashes(self) -> None:
        return None


class HttpRecords:
    """:class:`~loopml.pipelines.records.Records` on a ``loopml server``."""

    def __init__(self, http: Http, settings: Settings, datasets: RemoteDatasets) -> None:
        self.http = http
        self.settings = settings
        self.datasets = datasets
        self._owned = False
        self._services: Any = None

    def services(self) -> Any:
        """The remote services over these records' settings (built once, closed with them)."""
        if self._services is None:
            from loopml.client.services import RemoteServices

            self._services = RemoteServices(self.settings)
        return self._services

    @classmethod
    def open(cls, settings: Settings) -> HttpRecords:
        """Records of their own, for a step worker (its URI and token from ``settings``)."""
        assert settings.uri is not None
        http = Http(settings.uri, settings.token)
        records = cls(http, settings, RemoteDatasets(http, settings.cache_dir))
        records._owned = True
        return records

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None
        if self._owned:
            self.datasets.close()
            self.http.close()

    # ---------- runs ----------
    def start_run(self, run: Mapping[str, Any], steps: builtins.list[Mapping[str, Any]]) -> None:
        body = RunStart(dict(run), tuple(dict(s) for s in steps))
        self.http.send("POST", "/pipelines/runs", body, dict[str, Any])

    def end_run(self, run_id: str, status: RunStatus, error: str | None) -> None:
        self.http.send("POST", f"/pipelines/runs/{_q(run_id)}/end", RunEnd(status, error), dict)

    def get_run(self, run_id: str) -> PipelineRun:
        return self.http.get(f"/pipelines/runs/{_q(run_id)}", PipelineRun)

    def list_runs(self, pipeline: str | None, limit: int) -> builtins.list[PipelineRun]:
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, got {limit}")
        params = {} if pipeline is None else {"pipeline": pipeline}
        return builtins.list(self.http.pages("/pipelines/runs", PipelineRun, params, most=limit))

    # ---------- steps ----------
    def _step(self, run_id: str, step: str, what: str) -> str:
        return f"/pipelines/runs/{_q(run_id)}/steps/{_q(step)}/{what}"

    def move_step(self, run_id: str, step: str, new: StepStatus, **fields: Any) -> None:
        self.http.send("POST", self._step(run_id, step, "move"), StepMove(new, fields), dict)

    def fail_step(self, run_id: str, step: str, error: str) -> StepStatus:
        answer = self.http.send("POST", self._step(run_id, step, "fail"), Reason(error), dict)
        return StepStatus(answer["status"])

    def abort(self, run_id: str, reason: str) -> None:
        self.http.send("POST", f"/pipelines/runs/{_q(run_id)}/abort", Reason(reason), dict)

    # ---------- the cache ----------
    def cache_candidates(self, key: str) -> builtins.list[StepRun]:
        return self.http.get(f"/pipelines/cache/{_q(key)}", builtins.list[StepRun])

    def stored_files(self, digests: set[str]) -> StoredFiles:
        return self.http.send(
            "POST", "/pipelines/files", FileDigests(tuple(sorted(digests))), StoredFiles
        )

    def files_stored(self, digests: set[str]) -> bool:
        return not digests or not self.stored_files(digests).missing

    def take_cached(self, run_id: str, step: str, key: str, source: StepRun) -> None:
        body = CachedStep(key, source)
        self.http.send("POST", self._step(run_id, step, "cached"), body, dict)

    # ---------- outputs ----------
    def stage(self) -> HttpStaged:
        return HttpStaged(self.datasets)

    def complete_step(
        self,
        run_id: str,
        step: str,
        staged: Any,
        outputs: builtins.list[Output],
        **fields: Any,
    ) -> None:
        files = staged.files if isinstance(staged, HttpStaged) else {}
        body = StepDone(tuple(outputs), files, fields)
        self.http.send("POST", self._step(run_id, step, "complete"), body, dict)

    def _chunks(self, digest: str) -> FileChunks:
        found = self.stored_files({digest}).files.get(digest)
        if found is None:
            raise NotFound(
                f"output file {digest} is not stored whole on the server; run the step again "
                "(or check the server with: loopml fsck)"
            )
        return found

    def _iter(self, digest: str) -> Any:
        f = self._chunks(digest)
        whole = blake3.blake3()
        total = 0
        for _d, data in self.datasets.get_chunks(f.chunks):
            whole.update(data)
            total += len(data)
            yield data
        if total != f.size or whole.hexdigest() != digest:
            raise IntegrityError(f"file {digest} reassembled to different content")

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self._iter(digest))

    def write_file(self, digest: str, dest: Path) -> None:
        write_replacing(dest, self._iter(digest))


def open_remote_records(settings: Settings) -> Records:
    """What a step worker of a remote run opens (pickled by reference)."""
    return HttpRecords.open(settings)


def over_remote(records: Any) -> Any:
    """The services a step of a remote run reaches through ``current_step()``: one set per
    worker's records, closed with them."""
    return records.services()


class RemotePipelines(PipelineService):
    """Pipelines that run here and are recorded on the server."""

    def __init__(self, http: Http, services: Any) -> None:
        records = HttpRecords(http, services.settings, services.datasets)
        super().__init__(
            records,
            tracking=services.tracker,
            backend=services,
            connect=over_remote,
            opener=open_remote_records,
        )
        self.http = http

    def step_log(self, run_id: str, step: str) -> dict[str, str | None]:
        """The captured stdout, stderr and error of one step."""
        path = f"/pipelines/runs/{_q(run_id)}/steps/{_q(step)}/log"
        return self.http.get(path, dict[str, str | None])


def build(http: Http, services: Any) -> RemotePipelines:
    return RemotePipelines(http, services)
