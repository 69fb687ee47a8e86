"""The legal moves of a run's lifecycle, checked in one place."""

from __future__ import annotations

from loopml.api.runs import RunStatus
from loopml.core.errors import Conflict, InvalidInput


def check_transition(run_id: str, old: RunStatus, new: RunStatus) -> None:
    """The one place that knows the legal moves: running → finished | failed | killed | lost
    (``lost`` is what the reaper records; people end runs as one of the other three)."""
    if not new.is_terminal:
        raise InvalidInput(
            f"a run cannot be ended as {new.value!r}; end it as finished, failed or killed"
        )
    if old.is_terminal:
        raise Conflict(
            f"run {run_id} has already ended as {old.value}; a run ends once, "
            "start a new run to record more"
        )
