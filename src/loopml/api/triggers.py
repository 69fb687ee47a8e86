"""Triggers: what a trigger watches (``on``), what it runs (``action``), the firings it made and
the jobs those queued. Plain frozen value types; no I/O."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """Where a queued job is; the legal moves are in ``loopml.triggers.lifecycle``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Catchup(StrEnum):
    """What a schedule does with ticks missed while no controller ran: skip them, or run once."""

    SKIP = "skip"
    ONCE = "once"


@dataclass(frozen=True)
class TriggerSpec:
    """A trigger as the user wrote it. ``on`` is ``dataset:NAME``, ``model:NAME[@ALIAS]``,
    ``schedule:CRON``, ``code:PATH[@BRANCH]``, ``alert:DEPLOYMENT``, ``webhook`` or ``manual``;
    ``action`` is ``FILE.py:FUNC`` (a pipeline), ``run_production`` or ``monitor``; ``params``
    may hold ``{event.FIELD}`` templates."""

    name: str
    on: str
    action: str
    params: dict[str, str] = field(default_factory=dict)
    executor: str = "local"
    tz: str = "UTC"
    cooldown_s: float = 0.0
    max_concurrent: int = 1
    retries: int = 0
    backoff_s: float = 5.0
    catchup: Catchup = Catchup.SKIP


@dataclass(frozen=True)
class Trigger:
    """A stored trigger: its spec, whether it is enabled, when it was made, and the last event
    id that existed then (it reacts only to later ones)."""

    id: int
    spec: TriggerSpec
    enabled: bool
    created_at: float
    created_by: str
    after_event: int
    last_fired_at: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["spec"]["catchup"] = self.spec.catchup.value
        return out


@dataclass(frozen=True)
class Firing:
    """One (trigger, event) pair that fired: ``event_key`` is unique per trigger (``event:ID``,
    ``tick:EPOCH``, ``commit:SHA``, ``manual:UUID``, ``webhook:…``); ``event`` holds the
    fields its templates read. ``status`` and ``run_id`` are its job's."""

    id: int
    trigger: str
    event_key: str
    event: dict[str, Any]
    created_at: float
    job_id: int | None
    status: JobStatus | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class Job:
    """A queued action: which trigger and firing made it, its resolved parameters, its status,
    how many times it was started, the run it made and its result or error."""

    id: int
    trigger: str
    firing_id: int
    action: str
    params: dict[str, str]
    executor: str
    status: JobStatus
    attempts: int
    max_attempts: int
    created_at: float
    not_before: float
    started_at: float | None = None
    ended_at: float | None = None
    run_id: str | None = None
    worker: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["status"] = self.status.value
        return out


@dataclass(frozen=True)
class JobLease:
    """Who claims a job: the worker process (host, pid, the process table the pid belongs to)
    and a token unique to this holding. A worker on another machine sends its own."""

    host: str
    pid: int
    scope: str | None
    token: str


@dataclass(frozen=True)
class JobOutcome:
    """What running a claimed job gave: whether it succeeded, the pipeline run it made, its
    result and its error."""

    ok: bool
    run_id: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
