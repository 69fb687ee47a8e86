"""Block 2: experiment tracking. Names load on first use, so importing a submodule (the CLI
needs only value objects) does not pull in SQLAlchemy. The client side (the active run, the
metric buffer) is :mod:`loopml.tracker`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.api.runs import (
        Artifact,
        Experiment,
        MetricPoint,
        MetricSummary,
        Run,
        RunStatus,
    )
    from loopml.tracking.lexer import FilterError
    from loopml.tracking.service import RunService, SearchService

__all__ = [
    "Artifact",
    "Experiment",
    "FilterError",
    "MetricPoint",
    "MetricSummary",
    "Run",
    "RunService",
    "RunStatus",
    "SearchService",
]

_HOME = {
    "FilterError": "loopml.tracking.lexer",
    "RunService": "loopml.tracking.service",
    "SearchService": "loopml.tracking.service",
}


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module(_HOME.get(name, "loopml.api.runs")), name)
    raise AttributeError(name)
