"""Value objects of training pipelines and the lifecycles of a run and of its steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loopml.core.errors import NotFound
from loopml.core.times import iso_ms as iso


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CACHED = "cached"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_terminal(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)

    @property
    def has_outputs(self) -> bool:
        return self in (StepStatus.SUCCEEDED, StepStatus.CACHED)


@dataclass(frozen=True)
class OutputFile:
    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class Output:
    """One stored step output: the materializer that wrote it and its files."""

    name: str
    materializer: str
    type_name: str
    digest: str
    files: tuple[OutputFile, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "materializer": self.materializer,
            "type": self.type_name,
            "digest": self.digest,
            "files": [{"path": f.path, "digest": f.digest, "size": f.size} for f in self.files],
        }


@dataclass(frozen=True)
class StepRun:
    name: str
    position: int
    func: str
    upstream: tuple[str, ...]
    inputs: dict[str, Any]
    status: StepStatus
    cache_key: str | None = None
    cached_from: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    worker: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    error: str | None = None
    decision: dict[str, Any] | None = None
    metrics: dict[str, float] | None = None
    datasets: tuple[str, ...] = ()
    outputs: tuple[Output, ...] = ()

    @property
    def elapsed(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def to_dict(self, with_logs: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "position": self.position,
            "func": self.func,
            "upstream": list(self.upstream),
            "inputs": self.inputs,
            "status": self.status.value,
            "cache_key": self.cache_key,
            "cached_from": self.cached_from,
            "start_time": iso(self.start_time),
            "end_time": iso(self.end_time),
            "elapsed_s": None if self.elapsed is None else round(self.elapsed, 6),
            "worker": self.worker,
            "error": self.error,
            "decision": self.decision,
            "metrics": self.metrics or {},
            "datasets": list(self.datasets),
            "outputs": [o.to_dict() for o in self.outputs],
        }
        if with_logs:
            d["stdout"] = self.stdout
            d["stderr"] = self.stderr
        return d


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline run; ``id`` is also the id of the tracked run that records it."""

    id: str
    pipeline: str
    source: str
    params: dict[str, Any]
    status: RunStatus
    executor: str
    options: dict[str, Any]
    resumed_from: str | None
    start_time: float
    end_time: float | None
    created_by: str
    error: str | None = None
    steps: tuple[StepRun, ...] = field(default=(), compare=False)

    @property
    def elapsed(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def step(self, name: str) -> StepRun:
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFound(
            f"pipeline run {self.id} has no step {name!r}; its steps are: "
            + ", ".join(s.name for s in self.steps)
        )

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            out[s.status.value] = out.get(s.status.value, 0) + 1
        return out

    def to_dict(self, with_steps: bool = True, with_logs: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "pipeline": self.pipeline,
            "source": self.source,
            "params": self.params,
            "status": self.status.value,
            "executor": self.executor,
            "options": self.options,
            "resumed_from": self.resumed_from,
            "start_time": iso(self.start_time),
            "end_time": iso(self.end_time),
            "elapsed_s": None if self.elapsed is None else round(self.elapsed, 6),
            "created_by": self.created_by,
            "error": self.error,
            "step_counts": self.counts(),
        }
        if with_steps:
            d["steps"] = [s.to_dict(with_logs) for s in self.steps]
        return d


# ---------- what a remote coordinator and its step workers send a server ----------
@dataclass(frozen=True)
class RunStart:
    """Body of ``POST /pipelines/runs``: a run about to execute elsewhere, with its steps."""

    run: dict[str, Any]
    steps: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class RunEnd:
    status: RunStatus
    error: str | None = None


@dataclass(frozen=True)
class StepMove:
    """A step's next status and the fields it sets (start_time, worker, error…)."""

    status: StepStatus
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    reason: str


@dataclass(frozen=True)
class CachedStep:
    """A step taken from the cache: its key and the stored step whose outputs it reuses."""

    key: str
    source: StepRun


@dataclass(frozen=True)
class FileChunks:
    """A stored file as its size and its chunks in order (hex digests)."""

    size: int
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class StepDone:
    """A step's success: its outputs, the chunk lists of their new files (whose chunks were
    sent with ``POST /chunks``), and the fields of the move."""

    outputs: tuple[Output, ...]
    files: dict[str, FileChunks] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileDigests:
    digests: tuple[str, ...]


@dataclass(frozen=True)
class StoredFiles:
    """Answer of ``POST /pipelines/files``: the chunk lists of the files stored whole, and
    the digests of those that are not (unknown, or a chunk or pack of theirs is gone)."""

    files: dict[str, FileChunks]
    missing: tuple[str, ...]
