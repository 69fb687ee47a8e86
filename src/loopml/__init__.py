"""loopml: the whole ML loop in one install.

The public API is re-exported here; heavy modules load on first use so ``import loopml``
stays fast.
"""

import importlib
from typing import TYPE_CHECKING, Any

# The factory is a function named like its module: importing it here binds ``loopml.connect`` to
# the function (the module stays reachable as ``sys.modules["loopml.connect"]``).
from loopml.connect import connect
from loopml.core.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidName,
    LoopError,
    NotFound,
    PermissionDenied,
    StoreError,
)
from loopml.core.version import __version__

if TYPE_CHECKING:
    from loopml.pipelines import current_step, pipeline, step
    from loopml.sdk import (
        Client,
        active_run,
        best_version,
        delete_alias,
        deploy,
        diff_datasets,
        end_run,
        flush,
        get_run,
        list_datasets,
        list_models,
        load_dataset,
        load_model,
        log_artifact,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        metric_history,
        monitor,
        pull_dataset,
        pull_model,
        push_dataset,
        register_model,
        rollback,
        run_pipeline,
        search_runs,
        set_alias,
        set_tag,
        set_tags,
        start_run,
    )

# name -> module that defines it; imported on first attribute access (PEP 562), so a CLI call
# or ``import loopml`` does not pay for the pipeline and SDK modules it never touches.
_LAZY = {
    "current_step": "loopml.pipelines",
    "pipeline": "loopml.pipelines",
    "step": "loopml.pipelines",
    "Client": "loopml.sdk",
    "active_run": "loopml.sdk",
    "best_version": "loopml.sdk",
    "delete_alias": "loopml.sdk",
    "deploy": "loopml.sdk",
    "diff_datasets": "loopml.sdk",
    "end_run": "loopml.sdk",
    "flush": "loopml.sdk",
    "get_run": "loopml.sdk",
    "list_datasets": "loopml.sdk",
    "list_models": "loopml.sdk",
    "load_dataset": "loopml.sdk",
    "load_model": "loopml.sdk",
    "log_artifact": "loopml.sdk",
    "log_input": "loopml.sdk",
    "log_metric": "loopml.sdk",
    "log_metrics": "loopml.sdk",
    "log_param": "loopml.sdk",
    "log_params": "loopml.sdk",
    "metric_history": "loopml.sdk",
    "monitor": "loopml.sdk",
    "pull_dataset": "loopml.sdk",
    "pull_model": "loopml.sdk",
    "push_dataset": "loopml.sdk",
    "register_model": "loopml.sdk",
    "rollback": "loopml.sdk",
    "run_pipeline": "loopml.sdk",
    "search_runs": "loopml.sdk",
    "set_alias": "loopml.sdk",
    "set_tag": "loopml.sdk",
    "set_tags": "loopml.sdk",
    "start_run": "loopml.sdk",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Client",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "InvalidName",
    "LoopError",
    "NotFound",
    "PermissionDenied",
    "StoreError",
    "__version__",
    "active_run",
    "best_version",
    "connect",
    "current_step",
    "delete_alias",
    "deploy",
    "diff_datasets",
    "end_run",
    "flush",
    "get_run",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_model",
    "log_artifact",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "metric_history",
    "monitor",
    "pipeline",
    "pull_dataset",
    "pull_model",
    "push_dataset",
    "register_model",
    "rollback",
    "run_pipeline",
    "search_runs",
    "set_alias",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
]
