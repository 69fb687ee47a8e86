"""Value objects of experiment tracking (what the CLI, SDK and REST API show)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loopml.core.errors import InvalidInput
from loopml.core.times import iso_ms as iso


class RunStatus(StrEnum):
    """The lifecycle of a run: it starts running and ends exactly once. ``killed``: stopped
    by Ctrl-C or SIGTERM (or by hand); ``lost``: its process vanished without ending it
    (kill -9, a crash, a lost machine), found by its missing heartbeat."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"
    LOST = "lost"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING

    @classmethod
    def parse(cls, value: str | RunStatus) -> RunStatus:
        """The status named by ``value``; InvalidInput lists the legal ones."""
        try:
            return cls(str(value).lower())
        except ValueError:
            legal = ", ".join(s.value for s in cls)
            raise InvalidInput(f"unknown run status {value!r}: use one of {legal}") from None


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    created_at: float
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class MetricPoint:
    """One point of a metric's time series."""

    key: str
    step: int
    timestamp: float
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "step": self.step,
            "timestamp": iso(self.timestamp),
            "value": self.value,
        }


@dataclass(frozen=True)
class MetricSummary:
    """The latest point of a metric (highest step, then latest time) and its range."""

    key: str
    value: float
    step: int
    timestamp: float
    min: float
    max: float
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "step": self.step,
            "timestamp": iso(self.timestamp),
            "min": self.min,
            "max": self.max,
            "count": self.count,
        }


@dataclass(frozen=True)
class Artifact:
    path: str
    size: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "digest": self.digest}


@dataclass(frozen=True)
class Run:
    """A snapshot of one run: what it was given, what it measured, where it came from."""

    id: str
    experiment: str
    name: str
    status: RunStatus
    start_time: float
    end_time: float | None
    created_by: str
    code: dict[str, Any]
    environment: dict[str, Any]
    error: str | None = None
    parent_run_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_summaries: dict[str, MetricSummary] = field(default_factory=dict, compare=False)
    inputs: tuple[str, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    heartbeat_at: float | None = None  # last sign of life of a running run (database clock)
    host: str | None = None  # where the process that started it ran
    pid: int | None = None

    @property
    def elapsed(self) -> float | None:
        """Seconds from start to end; None while the run has not ended."""
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self, detail: bool = True) -> dict[str, Any]:
        """JSON-ready form; ``detail=False`` (search results) leaves out the environment and
        the metric ranges."""
        d: dict[str, Any] = {
            "id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status.value,
            "start_time": iso(self.start_time),
            "end_time": iso(self.end_time),
            "elapsed_s": None if self.elapsed is None else round(self.elapsed, 6),
            "created_by": self.created_by,
            "parent_run_id": self.parent_run_id,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "inputs": list(self.inputs),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "code": dict(self.code),
            "error": self.error,
            "heartbeat_at": iso(self.heartbeat_at),
            "host": self.host,
            "pid": self.pid,
        }
        if detail:
            d["metric_summaries"] = {k: s.to_dict() for k, s in self.metric_summaries.items()}
            d["environment"] = dict(self.environment)
        return d


@dataclass(frozen=True)
class NewRun:
    """A run to start: what the client knows of it (ids, names, where it runs, what it was
    given) when it asks the runs service to record it."""

    id: str
    experiment: str
    name: str
    start_time: float
    created_by: str
    code: dict[str, Any]
    environment: dict[str, Any]
    parent_run_id: str | None = None
    host: str | None = None
    pid: int | None = None
    pid_scope: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunValues:
    """Params or tags for one run."""

    run_id: str
    values: dict[str, str]


@dataclass(frozen=True)
class MetricColumns:
    """Metric points of any runs as columns (compact on the wire, cheap to build from the
    client's buffer): point ``i`` is ``(run_ids[i], keys[i], steps[i], timestamps[i],
    values[i])``."""

    run_ids: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    steps: tuple[int, ...] = ()
    timestamps: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.run_ids)


@dataclass(frozen=True)
class LogBatch:
    """What a client buffered (checked already), written in one transaction, in order:
    params, then tags, then metric points."""

    params: tuple[RunValues, ...] = ()
    tags: tuple[RunValues, ...] = ()
    points: MetricColumns = field(default_factory=MetricColumns)

    def __bool__(self) -> bool:
        return bool(self.params or self.tags or len(self.points))


@dataclass(frozen=True)
class LostRun:
    """A running run found dead and ended as lost."""

    id: str
    experiment: str
    name: str
    end_time: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "end_time": iso(self.end_time),
            "reason": self.reason,
        }
