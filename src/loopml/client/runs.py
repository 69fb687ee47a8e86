"""``Runs`` over HTTP: the routes of :mod:`loopml.server.routes.runs`. Artifacts travel as
files: ``log_artifact`` lists a local file or folder the way the embedded service does, then
sends each file (streamed) to ``PUT /runs/{id}/artifacts/{path}``; ``open_artifact`` streams
one back and checks it against its digest."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from loopml.api import codec
from loopml.api.runs import Artifact, Experiment, LogBatch, MetricPoint, NewRun, Run, RunStatus
from loopml.client.http import Http
from loopml.core.errors import IntegrityError
from loopml.core.names import validate_key, validate_name
from loopml.core.paths import safe_relpath
from loopml.tracking import log as checks
from loopml.tracking.artifacts import artifact_files

UPLOAD_CHUNK = 1 << 20


def segment(text: str) -> str:
    """``text`` as one URL path segment (dots too, so ``..`` can never be read as a step up)."""
    return quote(str(text), safe="").replace(".", "%2E")


def file_path(path: str) -> str:
    """A checked relative path (a metric key, an artifact path) for the end of a URL."""
    return quote(path, safe="/")


class RemoteRuns:
    def __init__(self, http: Http) -> None:
        self.http = http

    # ---------- experiments ----------
    def create_experiment(self, name: str) -> Experiment:
        return self.http.send("POST", "/experiments", {"name": name}, Experiment)

    def get_experiment(self, name: str) -> Experiment:
        validate_name(name, "experiment name")  # as the service would, before the URL
        return self.http.get(f"/experiments/{segment(name)}", Experiment)

    def list_experiments(self) -> builtins.list[Experiment]:
        return list(self.http.pages("/experiments", Experiment))

    # ---------- the lifecycle of a run ----------
    def start_run(self, run: NewRun) -> None:
        self.http.request("POST", "/runs", json=run)

    def end_run(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> None:
        body = {"status": RunStatus.parse(status), "error": error}
        self.http.request("POST", f"/runs/{segment(run_id)}/end", json=body)

    def run_status(self, run_id: str) -> RunStatus:
        found = self.http.get(f"/runs/{segment(run_id)}/status", dict[str, Any])
        return RunStatus.parse(found["status"])

    def resolve_run_id(self, run_id: str) -> str:
        return str(self.http.get(f"/runs/{segment(run_id)}/id", dict[str, Any])["id"])

    # ---------- what a run records ----------
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        body = {"values": checks.param_values(params)}
        self.http.request("POST", f"/runs/{segment(run_id)}/params", json=body)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        body = {"values": checks.tag_values(tags)}
        self.http.request("POST", f"/runs/{segment(run_id)}/tags", json=body)

    def log_batch(self, batch: LogBatch) -> tuple[str, ...]:
        found = self.http.send("POST", "/runs/batch", batch, dict[str, tuple[str, ...]])
        return found["late"]

    def log_input(self, run_id: str, dataset_ref: str) -> str:
        body = {"dataset": dataset_ref}
        found = self.http.send("POST", f"/runs/{segment(run_id)}/inputs", body, dict[str, str])
        return found["input"]

    def heartbeat(self, run_ids: tuple[str, ...]) -> dict[str, RunStatus]:
        body = {"run_ids": list(run_ids)}
        return self.http.send("POST", "/runs/heartbeat", body, dict[str, RunStatus])

    # ---------- artifacts ----------
    def log_artifact(
        self, run_id: str, path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> builtins.list[Artifact]:
        """Send a file (as ``[artifact_path/]NAME``) or a folder's files (under
        ``artifact_path``), one request per file; a path sent again is replaced."""
        stored: builtins.list[Artifact] = []
        for rel, local in artifact_files(Path(path), artifact_path):
            size = local.stat().st_size
            answer = self.http.request(
                "PUT",
                f"/runs/{segment(run_id)}/artifacts/{file_path(rel)}",
                content=_read(local),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(size),
                },
                timeout=None,
            )
            stored += codec.decode(answer.content, builtins.list[Artifact])
        return stored

    def open_artifact(self, run_id: str, path: str) -> tuple[Artifact, Iterator[bytes]]:
        """One artifact and its bytes, streamed; iterate them to the end (the digest is
        checked then) or ``close()`` the iterator."""
        rel = safe_relpath(path)
        download = ArtifactDownload(
            self.http, f"/runs/{segment(run_id)}/artifacts/{file_path(rel)}"
        )
        return download.artifact, download

    # ---------- reading ----------
    def get_run(self, run_id: str) -> Run:
        return self.http.get(f"/runs/{segment(run_id)}", Run)

    def metric_history(self, run_id: str, key: str) -> builtins.list[MetricPoint]:
        validate_key(key, "metric")
        return self.http.get(
            f"/runs/{segment(run_id)}/metrics/{file_path(key)}", builtins.list[MetricPoint]
        )


def _read(local: Path) -> Iterator[bytes]:
    with open(local, "rb") as f:
        while data := f.read(UPLOAD_CHUNK):
            yield data


class ArtifactDownload:
    """The bytes of one artifact as they arrive, hashed on the way; the last one is followed
    by a check against the digest the server gave (IntegrityError if they differ)."""

    def __init__(self, http: Http, path: str) -> None:
        self._closed = True  # until the answer is open
        self._stream = http.stream("GET", path)
        response = self._stream.__enter__()
        self._response = response
        headers = response.headers
        self.artifact = Artifact(
            path=unquote(headers.get("x-loopml-path", "")),
            size=int(headers.get("content-length", "0")),
            digest=headers.get("x-loopml-digest", ""),
        )
        self._chunks = response.iter_bytes(UPLOAD_CHUNK)
        import blake3

        self._hash = blake3.blake3()
        self._seen = 0
        self._closed = False

    def __iter__(self) -> ArtifactDownload:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            data: bytes = next(self._chunks)
        except StopIteration:
            self.close()
            self._verify()
            raise
        except BaseException:
            self.close()
            raise
        self._hash.update(data)
        self._seen += len(data)
        return data

    def _verify(self) -> None:
        a = self.artifact
        if self._seen != a.size or self._hash.hexdigest() != a.digest:
            raise IntegrityError(
                f"artifact {a.path!r} arrived as {self._seen} bytes that do not match its "
                f"digest {a.digest[:16]}… ({a.size} bytes); download it again"
            )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stream.__exit__(None, None, None)

    def __del__(self) -> None:
        self.close()


def build(http: Http, _services: Any) -> RemoteRuns:
    return RemoteRuns(http)
