"""The legal moves of a job, checked in one place."""

from __future__ import annotations

from loopml.api.triggers import JobStatus
from loopml.core.errors import Conflict

# A running job goes back to queued when it is retried or its worker's lease expired.
_MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.QUEUED, JobStatus.CANCELLED}
    ),
}


def check_job_transition(job_id: int, old: JobStatus, new: JobStatus) -> None:
    """Raise Conflict unless ``old → new`` is a legal move of a job."""
    if new not in _MOVES.get(old, frozenset()):
        raise Conflict(f"job {job_id} cannot go from {old.value} to {new.value}")


def sources_of(new: JobStatus) -> list[JobStatus]:
    """The statuses a job may move to ``new`` from (the WHERE of a compare-and-set update)."""
    return [old for old, moves in _MOVES.items() if new in moves]
