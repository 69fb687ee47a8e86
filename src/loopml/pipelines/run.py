"""Value objects of training pipelines and the lifecycles of a run and of its steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loopml.core.errors import Conflict
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


# The one table of legal moves. A step that never started can fail (its worker died before it
# said it was running, or its inputs could not be prepared).
_STEP_MOVES: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.PENDING: frozenset(
        {StepStatus.RUNNING, StepStatus.CACHED, StepStatus.SKIPPED, StepStatus.FAILED}
    ),
    StepStatus.RUNNING: frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED}),
}
_RUN_MOVES: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED}),
}


def check_step_transition(step: str, old: StepStatus, new: StepStatus) -> None:
    """Raise Conflict unless ``old → new`` is a legal move of a step."""
    if new not in _STEP_MOVES.get(old, frozenset()):
        raise Conflict(f"step {step!r} cannot go from {old.value} to {new.value}")


def sources_of(new: StepStatus) -> list[StepStatus]:
    """The statuses a step may move to ``new`` from."""
    return [old for old, moves in _STEP_MOVES.items() if new in moves]


def check_run_transition(run_id: str, old: RunStatus, new: RunStatus) -> None:
    """Raise Conflict unless ``old → new`` is a legal move of a run."""
    if new not in _RUN_MOVES.get(old, frozenset()):
        raise Conflict(f"pipeline run {run_id} has already ended as {old.value}")


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
        from loopml.core.errors import NotFound

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
