"""One interface per service. The embedded implementations (over the local stores) are built
by :func:`loopml.connect`; a remote one (HTTP to a ``loopml server``) will implement the same
Protocols. Arguments and results are the plain values of :mod:`loopml.api`.

Still client-side in shape (they take objects or local paths): ``Models.register/load/pull``,
``Runs.log_artifact`` and ``Pipelines.run`` (a ``@pipeline`` object). ``Datasets.push/pull/
load`` take local paths too, but only as the SDK side of a transfer: they drive the service
through its chunk calls (``missing_chunks``, ``put_chunks``, ``commit_version``,
``get_manifest``, ``get_chunks``), which are all a remote implementation has to carry."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from loopml.api.access import NewToken, Principal, Role, TokenInfo
from loopml.api.datasets import (
    Chunk,
    ChunkRef,
    DatasetSummary,
    DatasetVersion,
    Manifest,
    PushResult,
)
from loopml.api.deployments import Deployment, GateResult
from loopml.api.maintenance import FsckSummary, GcSummary
from loopml.api.models import AliasChange, ModelFile, ModelSummary, ModelUpload, ModelVersion
from loopml.api.monitoring import ColumnOptions
from loopml.api.monitors import MonitorResult, MonitorSpec
from loopml.api.pipelines import PipelineRun, StepStatus
from loopml.api.runs import (
    Artifact,
    Experiment,
    LogBatch,
    LostRun,
    MetricPoint,
    NewRun,
    Run,
    RunStatus,
)
from loopml.api.triggers import (
    Firing,
    Job,
    JobLease,
    JobOutcome,
    JobStatus,
    Trigger,
    TriggerSpec,
)

ByteProgress = Callable[[int], None]
StepProgress = Callable[[str, StepStatus, str], None]


class Datasets(Protocol):
    """Block 1: immutable, numbered dataset versions."""

    def push(
        self,
        name: str,
        source: Any,
        message: str | None = None,
        meta: dict[str, Any] | None = None,
        progress: ByteProgress | None = None,
    ) -> PushResult: ...

    def pull(
        self, ref: str, dest: str | os.PathLike[str], progress: ByteProgress | None = None
    ) -> Path: ...

    def load(self, ref: str) -> Any: ...

    def show(self, ref: str) -> DatasetVersion: ...

    def list(self) -> builtins.list[DatasetSummary]: ...

    def versions(self, name: str) -> builtins.list[DatasetVersion]: ...

    def diff(self, a: str, b: str) -> dict[str, Any]: ...

    # Blob transfer: a push chunks and hashes locally, asks which chunks are missing, sends
    # only those, then commits the manifest; a pull gets the manifest and fetches the chunks
    # it lacks. Digests are BLAKE3 hex strings; chunks travel as a stream of (digest, bytes).
    def missing_chunks(self, digests: Sequence[str]) -> builtins.list[str]:
        """The digests among ``digests`` that the service does not store."""
        ...

    def put_chunks(self, chunks: Iterable[Chunk]) -> builtins.list[ChunkRef]:
        """Store chunks, each verified against its digest (InvalidInput on a mismatch, and
        nothing of the call recorded); returns the chunks newly stored."""
        ...

    def commit_version(self, name: str, manifest: Manifest) -> PushResult:
        """The next version of ``name`` from a manifest whose chunks are all stored
        (Conflict names one that is not); identical content returns the latest version."""
        ...

    def get_manifest(self, ref: str) -> Manifest: ...

    def get_chunks(self, digests: Sequence[str]) -> Iterator[Chunk]:
        """Yield (digest, bytes) of each chunk asked for, verified against its digest."""
        ...


class Runs(Protocol):
    """Block 2: experiments, the lifecycle of runs, their params, metrics (in batches), tags,
    artifacts, inputs and liveness. Buffering and the active run are the client's."""

    def create_experiment(self, name: str) -> Experiment: ...

    def get_experiment(self, name: str) -> Experiment: ...

    def list_experiments(self) -> builtins.list[Experiment]: ...

    def start_run(self, run: NewRun) -> None: ...

    def end_run(
        self, run_id: str, status: RunStatus | str = ..., error: str | None = None
    ) -> None: ...

    def run_status(self, run_id: str) -> RunStatus: ...

    def resolve_run_id(self, run_id: str) -> str: ...

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None: ...

    def log_batch(self, batch: LogBatch) -> tuple[str, ...]: ...

    def log_input(self, run_id: str, dataset_ref: str) -> str: ...

    def log_artifact(
        self, run_id: str, path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> builtins.list[Artifact]: ...

    def open_artifact(self, run_id: str, path: str) -> tuple[Artifact, Iterator[bytes]]:
        """One artifact of a run and its bytes, streamed and verified."""
        ...

    def heartbeat(self, run_ids: tuple[str, ...]) -> dict[str, RunStatus]: ...

    def get_run(self, run_id: str) -> Run: ...

    def metric_history(self, run_id: str, key: str) -> builtins.list[MetricPoint]: ...


class Search(Protocol):
    """Block 2: finding runs with a filter expression and an order."""

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[Run]: ...

    def list_runs(
        self, experiment: str | Sequence[str] | None = None, limit: int = 100
    ) -> builtins.list[Run]: ...


class Models(Protocol):
    """Block 3: named models, numbered versions and aliases."""

    def register(
        self,
        name: str,
        model: Any,
        *,
        run: Any = None,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        signature: Any = None,
        input_example: Any = None,
        flavor: str | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion: ...

    def load(self, ref: str, trusted: bool | None = None) -> Any: ...

    def show(self, ref: str) -> ModelVersion: ...

    def versions(self, name: str) -> builtins.list[ModelVersion]: ...

    def list(self) -> builtins.list[ModelSummary]: ...

    def best_version(self, name: str, metric: str, mode: str = "max") -> ModelVersion: ...

    def set_alias(self, name: str, alias: str, version: int | str) -> AliasChange: ...

    def delete_alias(self, name: str, alias: str) -> AliasChange: ...

    def pull(self, ref: str, dest: str | os.PathLike[str]) -> Path: ...

    # A remote register serializes the model on the client, sends its files' chunks through
    # the datasets chunk transfer, then commits; a remote load reads files one by one.
    def commit_version(self, name: str, upload: ModelUpload) -> ModelVersion:
        """The next version of ``name`` from files whose chunks are all stored (Conflict
        names one that is not); every value checked as ``register`` checks it."""
        ...

    def open_file(self, ref: str, path: str) -> tuple[ModelFile, Iterator[bytes]]:
        """One artifact file of version ``ref`` and its bytes, verified as they are read."""
        ...


class Pipelines(Protocol):
    """Block 4: running, resuming and reading training pipelines."""

    def run(
        self,
        pipeline: Any,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str = "local",
        workers: int | None = None,
        no_cache: bool = False,
        ray_address: str | None = None,
        progress: StepProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> PipelineRun: ...

    def resume(
        self,
        run_id: str,
        *,
        executor: str | None = None,
        workers: int | None = None,
        ray_address: str | None = None,
        progress: StepProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> PipelineRun: ...

    def get_run(self, run_id: str) -> PipelineRun: ...

    def list_runs(
        self, pipeline: str | None = None, limit: int = 50
    ) -> builtins.list[PipelineRun]: ...

    def load_output(self, run_id: str, step: str, output: str = "output") -> Any: ...


class Deployments(Protocol):
    """Block 6a: deploying a chosen version behind a gate, rolling back, history."""

    def deploy(
        self,
        name: str,
        *,
        select: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        gate: str | None = None,
        to: str = "production",
    ) -> Deployment: ...

    def check(
        self,
        name: str,
        *,
        select: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        gate: str | None = None,
        to: str = "production",
    ) -> tuple[ModelVersion, GateResult]: ...

    def rollback(self, name: str, to: str = "production") -> Deployment: ...

    def history(
        self, name: str, to: str | None = None, limit: int = 100
    ) -> builtins.list[Deployment]: ...


class Maintenance(Protocol):
    """Checking and cleaning the stores, and ending what died: fsck, gc, reaping."""

    def fsck(self, progress: ByteProgress | None = None) -> FsckSummary: ...

    def gc(
        self,
        grace_s: float = ...,
        dry_run: bool = False,
        on_wait: Callable[[], None] | None = None,
    ) -> GcSummary: ...

    def reap_runs(self) -> builtins.list[LostRun]: ...

    def reap_pipelines(self) -> builtins.list[str]: ...


class Monitoring(Protocol):
    """Block 7: monitors of deployments, run over the prediction log, and their results."""

    def add(
        self,
        deployment: str,
        *,
        reference: str | None = None,
        window: str | float = "1h",
        every: str | float | None = None,
        rules: builtins.list[str] | tuple[str, ...] = (),
        columns: Mapping[str, ColumnOptions] | None = None,
        share_threshold: float = 0.5,
        target: str | None = None,
    ) -> MonitorSpec: ...

    def list(self) -> builtins.list[MonitorSpec]: ...

    def get(self, deployment: str) -> MonitorSpec: ...

    def remove(self, deployment: str) -> int: ...

    def run(
        self,
        deployment: str,
        *,
        window: str | float | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
    ) -> MonitorResult: ...

    def results(self, deployment: str, limit: int = 100) -> builtins.list[MonitorResult]: ...


class Triggers(Protocol):
    """Block 5: triggers, their firings, the job queue, a controller pass and a worker step."""

    def add(self, spec: TriggerSpec, enabled: bool = True) -> Trigger: ...

    def list(self) -> builtins.list[Trigger]: ...

    def get(self, name: str) -> Trigger: ...

    def set_enabled(self, name: str, enabled: bool) -> Trigger: ...

    def remove(self, name: str) -> int: ...

    def firings(self, name: str, limit: int = 100) -> builtins.list[Firing]: ...

    def fire(self, name: str, key: str | None = None) -> Firing: ...

    def fire_webhook(
        self, name: str, payload: Mapping[str, Any] | None = None, key: str | None = None
    ) -> Firing: ...

    def jobs(
        self, status: JobStatus | str | None = None, trigger: str | None = None, limit: int = 100
    ) -> builtins.list[Job]: ...

    def job(self, job_id: int) -> Job: ...

    def cancel_job(self, job_id: int) -> Job: ...

    def poll(self, limit: int = 1000, now: float | None = None, wait: float = 0.0) -> int: ...

    def work(self, now: float | None = None) -> Job | None: ...

    # A worker on another machine: claim a job under its lease, renew it, record the outcome.
    lease_ttl_s: float

    def claim_job(
        self, lease: JobLease, actions: Sequence[str] | None = None, now: float | None = None
    ) -> Job | None: ...

    def renew_job(self, job_id: int, lease: JobLease) -> bool: ...

    def finish_job(self, job_id: int, lease: JobLease, outcome: JobOutcome) -> Job: ...


class Access(Protocol):
    """Bearer tokens with a role (reader, writer, admin) for a server with ``--auth``."""

    def create(self, role: str | Role, name: str | None = None) -> NewToken:
        """A new token; its secret is shown in the answer only."""
        ...

    def list(self) -> builtins.list[TokenInfo]: ...

    def revoke(self, name: str) -> TokenInfo: ...

    def authenticate(self, token: str) -> Principal:
        """Who ``token`` is (Unauthenticated: unknown or revoked)."""
        ...


class Backend(Protocol):
    """The services of one backend, as :func:`loopml.connect` returns them."""

    @property
    def datasets(self) -> Datasets: ...

    @property
    def runs(self) -> Runs: ...

    @property
    def search(self) -> Search: ...

    @property
    def models(self) -> Models: ...

    @property
    def pipelines(self) -> Pipelines: ...

    @property
    def deployments(self) -> Deployments: ...

    @property
    def maintenance(self) -> Maintenance: ...

    @property
    def monitoring(self) -> Monitoring: ...

    def close(self) -> None: ...
