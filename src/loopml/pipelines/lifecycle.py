"""The legal moves of a pipeline run and of its steps, checked in one place."""

from __future__ import annotations

from loopml.api.pipelines import RunStatus, StepStatus
from loopml.core.errors import Conflict

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
