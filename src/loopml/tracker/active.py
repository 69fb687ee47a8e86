"""The active-run stack (the one piece of global state loopml keeps, in a contextvar) and the
handle of a live run that the ``loopml.log_*`` functions write through."""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from loopml.api.runs import Artifact, Run, RunStatus
from loopml.core.errors import InvalidInput, LoopError

if TYPE_CHECKING:
    from loopml.api.protocols import Runs


class Tracker(Protocol):
    """What a run handle writes through (:class:`loopml.tracker.tracker.Tracker`)."""

    @property
    def runs(self) -> Runs: ...

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...

    def log_metric(
        self, run_id: str, key: str, value: float, step: int | None, timestamp: float | None
    ) -> None: ...

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int | None,
        timestamp: float | None,
    ) -> None: ...

    def log_metric_batch(self, run_id: str, points: Iterable[Sequence[Any]]) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None: ...

    def log_artifact(
        self, run_id: str, path: str | os.PathLike[str], artifact_path: str | None
    ) -> list[Artifact]: ...

    def log_input(self, run_id: str, dataset_ref: str) -> str: ...

    def flush(self) -> None: ...

    def get_run(self, run_id: str) -> Run: ...

    def end_run(self, run_id: str, status: RunStatus | str, error: str | None) -> None: ...


log = logging.getLogger("loopml.tracking")

_stack: ContextVar[tuple[ActiveRun, ...]] = ContextVar("loopml_active_runs", default=())


def current_run() -> ActiveRun | None:
    """The innermost active run of this context (thread or task), or None."""
    for run in reversed(_stack.get()):
        if not run.ended:  # a run ended from another context is skipped
            return run
    return None


def require_run() -> ActiveRun:
    """The active run; InvalidInput says how to start one when there is none."""
    run = current_run()
    if run is None:
        raise InvalidInput(
            "no active run: start one with `with loopml.start_run(experiment='NAME') as run:` "
            "(runs are per thread: a new thread starts with none)"
        )
    return run


def push(run: ActiveRun) -> None:
    _stack.set((*_stack.get(), run))


def pop(run: ActiveRun) -> None:
    """Remove ``run`` from this context's stack, wherever it sits."""
    stack = _stack.get()
    if run in stack:
        _stack.set(tuple(r for r in stack if r is not run))


def format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class ActiveRun:
    """A run this process started: log to it, then end it (``with`` ends it for you: finished,
    failed with the traceback on an exception, killed on Ctrl-C)."""

    def __init__(
        self,
        tracker: Tracker,
        run_id: str,
        experiment: str,
        name: str,
        parent_run_id: str | None,
    ) -> None:
        self.tracker = tracker
        self.id = run_id
        self.experiment = experiment
        self.name = name
        self.parent_run_id = parent_run_id
        self.status = RunStatus.RUNNING

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.experiment}/{self.name} {self.status.value}>"

    @property
    def runs(self) -> Runs:
        """The runs service this run is recorded in."""
        return self.tracker.runs

    @property
    def ended(self) -> bool:
        return self.status.is_terminal

    # ---------- logging ----------
    def log_param(self, key: str, value: Any) -> None:
        self.tracker.log_params(self.id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.tracker.log_params(self.id, params)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        self.tracker.log_metric(self.id, key, value, step, timestamp)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: float | None = None,
    ) -> None:
        self.tracker.log_metrics(self.id, metrics, step, timestamp)

    def log_metric_batch(self, points: Iterable[tuple[Any, ...]]) -> None:
        """Log many ``(key, value, step)`` or ``(key, value, step, timestamp)`` points."""
        self.tracker.log_metric_batch(self.id, points)

    def set_tag(self, key: str, value: Any) -> None:
        self.tracker.set_tags(self.id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.tracker.set_tags(self.id, tags)

    def log_artifact(
        self, path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[Artifact]:
        return self.tracker.log_artifact(self.id, path, artifact_path)

    def log_input(self, dataset_ref: str) -> str:
        return self.tracker.log_input(self.id, dataset_ref)

    def flush(self) -> None:
        """Block until everything logged so far is committed."""
        self.tracker.flush()

    def get(self) -> Run:
        """A snapshot of the run as stored (after a flush)."""
        return self.tracker.get_run(self.id)

    # ---------- ending ----------
    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """End the run (once; later calls do nothing) and leave the active-run stack."""
        if self.ended:
            return
        self.tracker.end_run(self.id, status, error)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
            return
        status, error = exit_status(exc)
        try:
            self.end(status, error)
        except LoopError as end_exc:
            # The caller's exception is the one to see; the failed end is reported beside it.
            log.warning("loopml: could not end run %s: %s", self.id, end_exc)


def exit_status(exc: BaseException) -> tuple[RunStatus, str | None]:
    """How a run ends when ``exc`` ends its block or process."""
    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.KILLED, format_error(exc)
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        return RunStatus.FINISHED, None
    return RunStatus.FAILED, format_error(exc)
