"""Typed events: one :class:`EventKind` per kind of write another part reacts to, one frozen
payload type per kind, the :class:`Event` a reader returns, and the lossless codec between
payloads and the JSON stored in the ``events`` table. Pure: no I/O.

Events are appended in the writer's own transaction (``loopml.meta.events.append_event``) and
read through one cursor reader (:class:`EventReader`): ``read_after(cursor)`` returns the
events with an id above ``cursor``, oldest first; the consumer keeps the last id it handled."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from loopml.core.errors import InvalidInput


class EventKind(StrEnum):
    """Every kind of event written to the outbox."""

    DATASET_VERSION_CREATED = "dataset.version_created"
    MODEL_VERSION_CREATED = "model.version_created"
    MODEL_ALIAS_CHANGED = "model.alias_changed"
    MODEL_ALIAS_DELETED = "model.alias_deleted"
    RUN_STARTED = "run.started"
    RUN_FINISHED = "run.finished"
    RUN_FAILED = "run.failed"
    RUN_KILLED = "run.killed"
    RUN_LOST = "run.lost"
    DEPLOYMENT_RECORDED = "deployment.recorded"
    MONITOR_ALERT = "monitor.alert"
    SCHEDULE_TICKED = "schedule.ticked"
    COMMIT_SEEN = "code.commit_seen"


@dataclass(frozen=True)
class DatasetVersionCreated:
    """A dataset got a new version (an identical push appends nothing)."""

    kind: ClassVar[EventKind] = EventKind.DATASET_VERSION_CREATED
    dataset: str
    version: int
    content_digest: str

    @property
    def subject(self) -> str:
        return f"{self.dataset}@{self.version}"


@dataclass(frozen=True)
class ModelVersionCreated:
    """A model version was registered."""

    kind: ClassVar[EventKind] = EventKind.MODEL_VERSION_CREATED
    model: str
    version: int
    flavor: str
    run_id: str | None
    metrics: dict[str, float]

    @property
    def subject(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class ModelAliasChanged:
    """``model@alias`` now points at ``version`` (``previous_version`` None: a new alias)."""

    kind: ClassVar[EventKind] = EventKind.MODEL_ALIAS_CHANGED
    model: str
    alias: str
    version: int
    previous_version: int | None

    @property
    def subject(self) -> str:
        return f"{self.model}@{self.alias}"


@dataclass(frozen=True)
class ModelAliasDeleted:
    """``model@alias`` was removed; it pointed at ``previous_version``."""

    kind: ClassVar[EventKind] = EventKind.MODEL_ALIAS_DELETED
    model: str
    alias: str
    previous_version: int

    @property
    def subject(self) -> str:
        return f"{self.model}@{self.alias}"


@dataclass(frozen=True)
class _RunEvent:
    run_id: str
    experiment: str
    name: str

    @property
    def subject(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunStarted(_RunEvent):
    """A run was started (and stored)."""

    kind: ClassVar[EventKind] = EventKind.RUN_STARTED


@dataclass(frozen=True)
class RunFinished(_RunEvent):
    """A run ended successfully."""

    kind: ClassVar[EventKind] = EventKind.RUN_FINISHED


@dataclass(frozen=True)
class RunFailed(_RunEvent):
    """A run ended with an error."""

    kind: ClassVar[EventKind] = EventKind.RUN_FAILED


@dataclass(frozen=True)
class RunKilled(_RunEvent):
    """A run was ended by a signal."""

    kind: ClassVar[EventKind] = EventKind.RUN_KILLED


@dataclass(frozen=True)
class RunLost(_RunEvent):
    """A running run whose holder died (lease expired) was ended as lost by a reaper."""

    kind: ClassVar[EventKind] = EventKind.RUN_LOST
    reason: str


@dataclass(frozen=True)
class DeploymentRecorded:
    """A deploy or rollback reached a recorded status (deployed, refused, failed, …)."""

    kind: ClassVar[EventKind] = EventKind.DEPLOYMENT_RECORDED
    id: int
    model: str
    alias: str
    action: str
    version: int
    previous_version: int | None
    status: str

    @property
    def subject(self) -> str:
        return f"{self.model}@{self.alias}"


@dataclass(frozen=True)
class MonitorAlert:
    """A monitor's alert rule fired on one window; stored with the result it judged."""

    kind: ClassVar[EventKind] = EventKind.MONITOR_ALERT
    deployment: str  # what the monitor watches, e.g. churn@production
    model: str
    monitor_id: int
    result_id: int
    rule: str
    evidence: str
    window_start: float
    window_end: float

    @property
    def subject(self) -> str:
        return self.deployment


@dataclass(frozen=True)
class ScheduleTicked:
    """A schedule trigger's tick came due and fired (appended with its firing)."""

    kind: ClassVar[EventKind] = EventKind.SCHEDULE_TICKED
    trigger: str
    tick: float  # the tick's time, epoch seconds
    time: str  # the same, ISO 8601 in UTC

    @property
    def subject(self) -> str:
        return self.trigger


@dataclass(frozen=True)
class CommitSeen:
    """A code trigger saw a new commit on its branch and fired (appended with its firing)."""

    kind: ClassVar[EventKind] = EventKind.COMMIT_SEEN
    trigger: str
    path: str
    branch: str
    commit: str

    @property
    def subject(self) -> str:
        return self.trigger


Payload = (
    DatasetVersionCreated
    | ModelVersionCreated
    | ModelAliasChanged
    | ModelAliasDeleted
    | RunStarted
    | RunFinished
    | RunFailed
    | RunKilled
    | RunLost
    | DeploymentRecorded
    | MonitorAlert
    | ScheduleTicked
    | CommitSeen
)

PAYLOAD_TYPES: dict[EventKind, type[Payload]] = {
    t.kind: t
    for t in (
        DatasetVersionCreated,
        ModelVersionCreated,
        ModelAliasChanged,
        ModelAliasDeleted,
        RunStarted,
        RunFinished,
        RunFailed,
        RunKilled,
        RunLost,
        DeploymentRecorded,
        MonitorAlert,
        ScheduleTicked,
        CommitSeen,
    )
}

_RUN_ENDED: dict[str, type[RunFinished | RunFailed | RunKilled]] = {
    "finished": RunFinished,
    "failed": RunFailed,
    "killed": RunKilled,
}


def run_ended(
    status: str, run_id: str, experiment: str, name: str
) -> RunFinished | RunFailed | RunKilled:
    """The payload for a run its owner ended with ``status`` (finished, failed or killed)."""
    try:
        cls = _RUN_ENDED[status]
    except KeyError:
        raise InvalidInput(
            f"a run is ended as one of {', '.join(_RUN_ENDED)}, not {status!r}"
        ) from None
    return cls(run_id, experiment, name)


def encode_payload(payload: Payload) -> dict[str, Any]:
    """The JSON object stored for ``payload`` (its fields; kind and subject are columns)."""
    return dataclasses.asdict(payload)


def decode_payload(kind: EventKind | str, data: Mapping[str, Any]) -> Payload:
    """The payload object of a stored event; InvalidInput for an unknown kind or fields."""
    try:
        cls = PAYLOAD_TYPES[EventKind(kind)]
    except ValueError:
        raise InvalidInput(
            f"unknown event kind {kind!r}; known kinds: {', '.join(EventKind)}"
        ) from None
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in data]
    if missing:
        raise InvalidInput(f"a {kind} event needs {', '.join(missing)}; got {sorted(data)}")
    values = {n: data[n] for n in names}
    if "metrics" in values:
        values["metrics"] = dict(values["metrics"])
    return cls(**values)


@dataclass(frozen=True)
class Event:
    """One appended event. ``id`` is the cursor: ids grow in commit order per writer."""

    id: int
    kind: EventKind
    subject: str
    payload: Payload
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "subject": self.subject,
            "payload": encode_payload(self.payload),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        kind = EventKind(data["kind"])
        return cls(
            id=int(data["id"]),
            kind=kind,
            subject=str(data["subject"]),
            payload=decode_payload(kind, data["payload"]),
            created_at=float(data["created_at"]),
        )


def kinds_of(kinds: Iterable[EventKind | str] | None) -> tuple[EventKind, ...]:
    """The kinds a reader asked for, checked (None: every kind)."""
    if kinds is None:
        return tuple(EventKind)
    if isinstance(kinds, str):
        kinds = [kinds]
    out = []
    for k in kinds:
        try:
            out.append(EventKind(k))
        except ValueError:
            raise InvalidInput(
                f"unknown event kind {k!r}; known kinds: {', '.join(EventKind)}"
            ) from None
    return tuple(out)


class EventReader(Protocol):
    """The one way to read events: by cursor, oldest first."""

    def read_after(
        self,
        cursor: int,
        kinds: Iterable[EventKind | str] | None = None,
        limit: int = 100,
        wait: float = 0.0,
    ) -> list[Event]:
        """Up to ``limit`` events with an id above ``cursor`` (of ``kinds``, None: all).
        With ``wait`` > 0 and none yet, block until one arrives or ``wait`` seconds pass."""
        ...

    def latest_cursor(self) -> int:
        """The id of the newest event now (0 when there is none): read it before acting on
        the current state so that no later change is missed."""
        ...


__all__ = [
    "PAYLOAD_TYPES",
    "CommitSeen",
    "DatasetVersionCreated",
    "DeploymentRecorded",
    "Event",
    "EventKind",
    "EventReader",
    "ModelAliasChanged",
    "ModelAliasDeleted",
    "ModelVersionCreated",
    "MonitorAlert",
    "Payload",
    "RunFailed",
    "RunFinished",
    "RunKilled",
    "RunLost",
    "RunStarted",
    "ScheduleTicked",
    "decode_payload",
    "encode_payload",
    "kinds_of",
    "run_ended",
]
