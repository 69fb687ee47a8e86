"""What a running step can reach: ``current_step()`` gives its run, a way to log metrics and
dataset inputs to the pipeline's tracked run, and the services over the worker's stores.
A step returns a :class:`Decision` to act as a condition on the steps after it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.api.protocols import Backend, Datasets, Models
    from loopml.pipelines.records import Records


@dataclass(frozen=True)
class Decision:
    """A condition's verdict. ``go=False`` skips every step that depends on this one;
    ``go=True`` passes ``value`` on as the step's output."""

    go: bool
    reason: str
    value: Any = None


class StepContext:
    def __init__(
        self,
        run_id: str,
        step: str,
        records: Records,
        connect: Callable[[Records], Backend] | None = None,
    ) -> None:
        self.run_id = run_id
        self.step = step
        self.records = records
        self._connect = connect
        self.metrics: dict[str, float] = {}
        self.datasets: list[str] = []

    def log_metric(self, key: str, value: float) -> None:
        """Record a metric on the pipeline's tracked run (and on this step)."""
        try:
            self.metrics[str(key)] = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"metric {key!r} must be a number, got {value!r}") from None

    def log_metrics(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            self.log_metric(k, v)

    def log_input(self, dataset_ref: str) -> None:
        """Record that the step read a dataset version (``name@N``)."""
        self.datasets.append(dataset_ref)

    @functools.cached_property
    def services(self) -> Backend:
        """The services (datasets, models, runs, deployments…) of the backend the run is
        recorded in: this worker's stores, or the server the run talks to."""
        if self._connect is None:
            raise InvalidInput(
                "this step runs without services: run it through a pipeline "
                "(loopml.run_pipeline or loopml pipeline run)"
            )
        return self._connect(self.records)

    @property
    def datasets_service(self) -> Datasets:
        return self.services.datasets

    @property
    def models(self) -> Models:
        return self.services.models


_CURRENT: ContextVar[StepContext | None] = ContextVar("loopml_step_context", default=None)


def current_step() -> StepContext:
    """The context of the step running in this worker; InvalidInput outside a step."""
    ctx = _CURRENT.get()
    if ctx is None:
        raise InvalidInput("current_step() is only available while a pipeline step runs")
    return ctx


def activate(ctx: StepContext | None) -> Any:
    return _CURRENT.set(ctx)


def deactivate(token: Any) -> None:
    _CURRENT.reset(token)
