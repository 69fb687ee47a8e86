"""Block 4: training pipelines. ``@step`` and ``@pipeline`` are light; the service, the
executors and the built-in steps load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.api.pipelines import Output, PipelineRun, RunStatus, StepRun, StepStatus
from loopml.pipelines.context import Decision, StepContext, current_step
from loopml.pipelines.materializers import Materializer, register_materializer
from loopml.pipelines.pipeline import Pipeline, pipeline
from loopml.pipelines.step import Handle, Step, step

if TYPE_CHECKING:
    from loopml.pipelines.builtin_steps import deploy, deploy_if, load_dataset, register_model
    from loopml.pipelines.service import PipelineService

__all__ = [
    "Decision",
    "Handle",
    "Materializer",
    "Output",
    "Pipeline",
    "PipelineRun",
    "PipelineService",
    "RunStatus",
    "Step",
    "StepContext",
    "StepRun",
    "StepStatus",
    "current_step",
    "deploy",
    "deploy_if",
    "load_dataset",
    "pipeline",
    "register_materializer",
    "register_model",
    "step",
]

_LAZY = {
    "PipelineService": "loopml.pipelines.service",
    "deploy": "loopml.pipelines.builtin_steps",
    "deploy_if": "loopml.pipelines.builtin_steps",
    "load_dataset": "loopml.pipelines.builtin_steps",
    "register_model": "loopml.pipelines.builtin_steps",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
