"""The Python SDK: a client over the services, and the process-wide default client that the
module-level functions in ``loopml`` use."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from loopml.api.deployments import Deployment
    from loopml.api.models import ModelSummary, ModelVersion
    from loopml.api.monitors import MonitorResult
    from loopml.api.pipelines import PipelineRun
    from loopml.api.protocols import (
        Datasets,
        Deployments,
        Maintenance,
        Models,
        Monitoring,
        Pipelines,
        Search,
        Triggers,
    )
    from loopml.api.runs import MetricPoint, Run
    from loopml.connect import Services
    from loopml.models import LoadedModel
    from loopml.pipelines import Pipeline
    from loopml.stores import Stores
    from loopml.tracker.active import ActiveRun
    from loopml.tracker.tracker import Tracker


class Client:
    """The services of one backend, from :func:`loopml.connect`; connecting happens on first
    use, so constructing a client is free."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        home: str | None = None,
        db: str | None = None,
        blobs: str | None = None,
    ) -> None:
        self.settings = settings or load_settings(home=home, db=db, blobs=blobs)

    @functools.cached_property
    def services(self) -> Services:
        from loopml.connect import connect

        return connect(self.settings)

    @property
    def stores(self) -> Stores:
        """The opened stores of the embedded backend."""
        return self.services.stores

    @property
    def datasets(self) -> Datasets:
        return self.services.datasets

    @property
    def models(self) -> Models:
        return self.services.models

    @property
    def tracking(self) -> Tracker:
        """This process's side of tracking: start runs, log to them, read them back."""
        return self.services.tracker

    @property
    def search(self) -> Search:
        return self.services.search

    @property
    def pipelines(self) -> Pipelines:
        return self.services.pipelines

    @property
    def deployments(self) -> Deployments:
        return self.services.deployments

    @property
    def maintenance(self) -> Maintenance:
        return self.services.maintenance

    @property
    def monitoring(self) -> Monitoring:
        return self.services.monitoring

    @property
    def triggers(self) -> Triggers:
        return self.services.triggers

    def close(self) -> None:
        if "services" in self.__dict__:
            self.services.close()


# The client of each distinct configuration default_client() was asked for.
_clients: dict[Settings, Client] = {}


def _client_for(settings: Settings) -> Client:
    client = _clients.get(settings)
    if client is None:
        client = _clients.setdefault(settings, Client(settings))
    return client


def close_default_clients() -> None:
    """Close every client :func:`default_client` handed out in this process: what they buffered
    is committed and their stores are closed now; the next call makes a new one. The
    ``loopml`` command does this at its end instead of leaving it to the interpreter's
    teardown."""
    while _clients:
        _clients.popitem()[1].close()


def default_client() -> Client:
    """The client for the current ``LOOPML_*`` environment (one per distinct configuration)."""
    return _client_for(load_settings())


def push_dataset(
    name: str, path_or_df: Any, message: str | None = None, meta: dict[str, Any] | None = None
) -> Any:
    """Store a file, folder or DataFrame as the next version of dataset ``name``."""
    return default_client().datasets.push(name, path_or_df, message=message, meta=meta)


def pull_dataset(ref: str, dest: str | os.PathLike[str]) -> Path:
    """Write dataset version ``ref`` (``name``, ``name@3``) to ``dest``, verified."""
    return default_client().datasets.pull(ref, dest)


def load_dataset(ref: str) -> Any:
    """A DataFrame for a table version, else a local path to a verified copy."""
    return default_client().datasets.load(ref)


def list_datasets() -> list[Any]:
    return default_client().datasets.list()


def diff_datasets(a: str, b: str) -> dict[str, Any]:
    return default_client().datasets.diff(a, b)


def register_model(
    name: str,
    model_or_path: Any,
    *,
    run: Any = None,
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    signature: Any = None,
    input_example: Any = None,
    flavor: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
) -> ModelVersion:
    """Store a model object (or a .onnx/.skops file) as the next version of model ``name``."""
    return default_client().models.register(
        name,
        model_or_path,
        run=run,
        metrics=metrics,
        params=params,
        signature=signature,
        input_example=input_example,
        flavor=flavor,
        tags=tags,
        description=description,
    )


def load_model(ref: str, trusted: bool | None = None) -> LoadedModel:
    """Load a model version (``churn``, ``churn@production``, ``churn@7``) for prediction."""
    loaded: LoadedModel = default_client().models.load(ref, trusted=trusted)
    return loaded


def best_version(name: str, metric: str, mode: str = "max") -> ModelVersion:
    """The version of ``name`` with the highest (``max``) or lowest (``min``) ``metric``."""
    return default_client().models.best_version(name, metric, mode)


def set_alias(name: str, alias: str, version: int) -> Any:
    """Point ``name@alias`` (e.g. ``churn@production``) at ``version``."""
    return default_client().models.set_alias(name, alias, version)


def delete_alias(name: str, alias: str) -> Any:
    return default_client().models.delete_alias(name, alias)


def list_models() -> list[ModelSummary]:
    return default_client().models.list()


def pull_model(ref: str, dest: str | os.PathLike[str]) -> Path:
    """Write the artifact files of model version ``ref`` into ``dest``, verified."""
    return default_client().models.pull(ref, dest)


# ---------- experiment tracking: the active run lives in a contextvar (loopml.tracker.active)
def start_run(
    experiment: str = "default",
    name: str | None = None,
    *,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> ActiveRun:
    """Start a run and make it active; use it as ``with loopml.start_run(...) as run:``."""
    return default_client().tracking.start_run(
        experiment, name, params=params, tags=tags, parent_run_id=parent_run_id
    )


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread or task, or None."""
    from loopml.tracker.active import current_run

    return current_run()


def _run() -> ActiveRun:
    from loopml.tracker.active import require_run

    return require_run()


def end_run(status: str = "finished") -> None:
    """End the active run as ``finished``, ``failed`` or ``killed``."""
    _run().end(status)


def log_param(key: str, value: Any) -> None:
    _run().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    _run().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Buffer one metric point of the active run (committed in the background)."""
    _run().log_metric(key, value, step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    _run().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _run().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    _run().set_tags(tags)


def log_artifact(path: str | os.PathLike[str], artifact_path: str | None = None) -> list[Any]:
    """Store a file or a folder's files with the active run."""
    return _run().log_artifact(path, artifact_path)


def log_input(dataset_ref: str) -> str:
    """Record that the active run read a dataset version; returns it as ``name@N``."""
    return _run().log_input(dataset_ref)


def flush() -> None:
    """Block until every metric logged so far is committed."""
    from loopml.tracker.active import current_run

    run = current_run()
    if run is not None:
        run.flush()
    client = default_client()
    if "services" in client.__dict__ and (run is None or run.tracker is not client.tracking):
        client.tracking.flush()


def get_run(run_id: str) -> Run:
    """A run with its params, tags, latest metrics, inputs and artifacts."""
    return default_client().tracking.get_run(run_id)


def search_runs(
    experiment: str | list[str] | None = None,
    filter: str | None = None,
    order_by: list[str] | None = None,
    limit: int = 100,
) -> list[Run]:
    """Runs matching ``filter``, e.g. ``"metrics.accuracy > 0.9 and params.model = 'lr'"``."""
    return default_client().tracking.search_runs(experiment, filter, order_by, limit)


def metric_history(run_id: str, key: str) -> list[MetricPoint]:
    """Every point of metric ``key`` of a run, by step."""
    return default_client().tracking.metric_history(run_id, key)


def run_pipeline(
    pipeline: Pipeline | str,
    params: dict[str, Any] | None = None,
    *,
    executor: str = "local",
    workers: int | None = None,
    no_cache: bool = False,
    ray_address: str | None = None,
) -> PipelineRun:
    """Run a ``@pipeline`` (or ``"FILE.py:FUNC"``) with ``params``; returns the finished run."""
    return default_client().pipelines.run(
        pipeline,
        params,
        executor=executor,
        workers=workers,
        no_cache=no_cache,
        ray_address=ray_address,
    )


def deploy(
    name: str,
    *,
    select: str | None = None,
    version: int | None = None,
    alias: str | None = None,
    gate: str | None = None,
    to: str = "production",
) -> Deployment:
    """Deploy a version of ``name`` (``select="best:auc"``, ``version=N`` or ``alias="staging"``)
    to ``name@to`` if ``gate`` (e.g. ``"auc >= production"``) passes; check ``.status``."""
    return default_client().deployments.deploy(
        name, select=select, version=version, alias=alias, gate=gate, to=to
    )


def rollback(name: str, to: str = "production") -> Deployment:
    """Move ``name@to`` back to the version it held before its last deployment."""
    return default_client().deployments.rollback(name, to=to)


def monitor(
    deployment: str,
    *,
    window: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> MonitorResult:
    """Run the monitor of ``deployment`` (``churn@production``) on a window now (default: its
    own window, ending now); the stored result with drift, quality and fired alerts."""
    return default_client().monitoring.run(deployment, window=window, since=since, until=until)
