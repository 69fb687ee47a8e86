"""Training pipelines' one entry point: run, resume, list, show. A run executes here (this
process coordinates, its executor's workers run the steps) and is recorded through
:class:`~loopml.pipelines.records.Records`: the local stores, or a ``loopml server``."""

from __future__ import annotations

import builtins
import dataclasses
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loopml.api.pipelines import PipelineRun, RunStatus, StepRun
from loopml.core.errors import Cancelled, Conflict, InvalidInput
from loopml.core.settings import Settings
from loopml.pipelines import repository as repo
from loopml.pipelines.execute import Coordinator, Executor, Progress, Tracker
from loopml.pipelines.params import jsonable
from loopml.pipelines.pipeline import Pipeline, Plan
from loopml.pipelines.records import Records, StoredRecords, open_records
from loopml.pipelines.source import load_pipeline
from loopml.pipelines.worker import load_output

if TYPE_CHECKING:
    from loopml.api.protocols import Backend

EXECUTORS = ("local", "ray")


def _close_pool(pool: list[Any], lock: threading.Lock) -> None:
    with lock:
        executors = list(pool)
        pool.clear()
    for executor in executors:
        executor.close()


def source_of(p: Pipeline) -> str:
    """Where a pipeline object can be found again (for resume)."""
    module = sys.modules.get(p.func.__module__)
    path = getattr(module, "__file__", None)
    loaded = p.func.__module__.startswith("loopml_pipeline_") or p.func.__module__ == "__main__"
    if loaded and path:
        return f"{Path(path).resolve()}:{p.func.__name__}"
    return f"{p.func.__module__}:{p.func.__name__}"


class Tracking(Tracker, Protocol):
    """The client side of tracking that records a pipeline run as a tracked run."""

    def start_run(
        self,
        experiment: str = ...,
        name: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> Any: ...

    def end_run(self, run_id: str, status: Any = ..., error: str | None = None) -> None: ...


class PipelineService:
    """``records``: where runs are recorded. ``tracking`` records every run as a tracked run
    (same id); without it runs are only recorded there. ``backend`` (the other services, from
    :func:`loopml.connect`) is what steps reach through ``current_step()``; ``connect``
    builds it again in a worker process over the worker's records, which ``opener`` opens
    there from the settings (both pickled by reference)."""

    def __init__(
        self,
        records: Records,
        tracking: Tracking | None = None,
        backend: Backend | None = None,
        connect: Callable[[Records], Backend] | None = None,
        opener: Callable[[Settings], Records] = open_records,
    ) -> None:
        self.records = records
        self.opener = opener
        self.tracking = tracking
        self.backend = backend
        self.connect = connect
        # The local executor's worker pool, kept between runs (idle, in the list while no run
        # uses it); its workers end with this service or the process.
        self._pool: list[Any] = []
        self._pool_lock = threading.Lock()
        weakref.finalize(self, _close_pool, self._pool, self._pool_lock)

    # ---------- running ----------
    def run(
        self,
        pipeline: Pipeline | str,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str = "local",
        workers: int | None = None,
        no_cache: bool = False,
        ray_address: str | None = None,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> PipelineRun:
        """Run a pipeline (an object or ``FILE.py:FUNC``); parameters are checked and the
        graph traced before anything runs. Returns the finished run (failed or not).
        ``cancelled``, asked about once a second, stops the run (its running steps killed,
        the run failed as cancelled) and raises :class:`Cancelled`."""
        if isinstance(pipeline, str):
            pipeline, source = load_pipeline(pipeline)
        elif isinstance(pipeline, Pipeline):
            source = source_of(pipeline)
        else:
            raise InvalidInput(
                f"run() takes a @pipeline or 'FILE.py:FUNC', not {type(pipeline).__name__}"
            )
        plan = pipeline.plan(params or {})
        return self._execute(
            plan, source, executor, workers, no_cache, ray_address, progress, None, {}, cancelled
        )

    def resume(
        self,
        run_id: str,
        *,
        executor: str | None = None,
        workers: int | None = None,
        ray_address: str | None = None,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> PipelineRun:
        """Run a failed run again as a new run: steps that succeeded and whose code, inputs
        and arguments are unchanged are reused; the rest runs."""
        old = self.get_run(run_id)
        if old.status is RunStatus.SUCCEEDED:
            raise InvalidInput(
                f"pipeline run {old.id} succeeded; there is nothing to resume "
                f"(run it again with: loopml pipeline run {old.source})"
            )
        pipeline, source = load_pipeline(old.source)
        plan = pipeline.plan(old.params)
        reuse = {
            s.name: dataclasses.replace(s, cached_from=s.cached_from or old.id)
            for s in old.steps
            if s.status.has_outputs
        }
        opts = old.options
        return self._execute(
            plan,
            source,
            executor or old.executor,
            workers if workers is not None else opts.get("workers"),
            bool(opts.get("no_cache", False)),
            ray_address if ray_address is not None else opts.get("ray_address"),
            progress,
            old.id,
            reuse,
            cancelled,
        )

    def _executor(
        self, name: str, workers: int | None, ray_address: str | None
    ) -> tuple[Executor, list[str]]:
        if name == "local":
            from loopml.pipelines.executor_local import LocalExecutor

            with self._pool_lock:
                pooled = self._pool.pop() if self._pool else None
            if pooled is not None:  # another run at the same time gets a pool of its own
                pooled.reuse(workers)
                return pooled, []
            return LocalExecutor(self.records.settings, workers, self.opener), []
        if name == "ray":
            from loopml.pipelines.executor_ray import RayExecutor

            ray_exec = RayExecutor(self.records.settings, ray_address, self.opener)
            return ray_exec, ray_exec.notes
        raise InvalidInput(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")

    def _execute(
        self,
        plan: Plan,
        source: str,
        executor_name: str,
        workers: int | None,
        no_cache: bool,
        ray_address: str | None,
        progress: Progress | None,
        resumed_from: str | None,
        reuse: dict[str, StepRun],
        cancelled: Callable[[], bool] | None = None,
    ) -> PipelineRun:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise InvalidInput(f"workers must be a whole number of at least 1, got {workers!r}")
        executor, notes = self._executor(executor_name, workers, ray_address)
        try:
            run_id = self._start(
                plan, source, executor_name, workers, no_cache, ray_address, resumed_from, notes
            )
            coordinator = Coordinator(
                self.records,
                self.tracking,
                plan,
                run_id,
                executor,
                not no_cache,
                reuse,
                progress,
                backend=self.backend,
                connect=self.connect,
                cancelled=cancelled,
            )
            try:
                outcome = coordinator.run()
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    reason = "interrupted"
                elif isinstance(exc, Cancelled):
                    reason = "cancelled"
                else:
                    reason = f"the coordinator failed: {type(exc).__name__}: {exc}"
                coordinator.abort(reason)
                self._end(run_id, RunStatus.FAILED, reason)
                raise
        finally:
            self._release(executor)
        error = None
        if not outcome.ok:
            error = "; ".join(f"step {s!r} failed: {why}" for s, why in outcome.failed.items())
        self._end(run_id, RunStatus.SUCCEEDED if outcome.ok else RunStatus.FAILED, error)
        return self.get_run(run_id)

    def _release(self, executor: Executor) -> None:
        """Keep an idle local pool for the next run; close anything else."""
        from loopml.pipelines.executor_local import LocalExecutor

        if isinstance(executor, LocalExecutor) and executor.idle():
            with self._pool_lock:
                if not self._pool:
                    self._pool.append(executor)
                    return
        executor.close()

    def close(self) -> None:
        """End the worker processes kept between runs."""
        _close_pool(self._pool, self._pool_lock)

    def _start(
        self,
        plan: Plan,
        source: str,
        executor: str,
        workers: int | None,
        no_cache: bool,
        ray_address: str | None,
        resumed_from: str | None,
        notes: list[str],
    ) -> str:
        params = jsonable(plan.params)
        name = plan.pipeline.name
        if self.tracking is not None:
            tags = {
                "loopml.pipeline": name,
                "loopml.pipeline.source": source,
                "loopml.pipeline.executor": executor,
            }
            if resumed_from:
                tags["loopml.pipeline.resumed_from"] = resumed_from
            handle = self.tracking.start_run(
                experiment=name, name=f"pipeline {name}", params=params, tags=tags
            )
            # Runs are written behind; steps in other processes must find this one now.
            handle.flush()
            run_id: str = handle.id
        else:
            run_id = uuid.uuid4().hex
        steps: list[Mapping[str, Any]] = [
            {
                "name": n,
                "func": node.step.qualname[:512],
                "upstream": list(node.upstream),
                "inputs": node.inputs_view(),
            }
            for n, node in plan.nodes.items()
        ]
        run = {
            "id": run_id,
            "pipeline": name,
            "source": source[:1024],
            "params": params,
            "executor": executor,
            "options": {
                "workers": workers,
                "no_cache": no_cache,
                "ray_address": ray_address,
                "notes": notes,
            },
            "resumed_from": resumed_from,
        }
        try:
            self.records.start_run(run, steps)
        except BaseException:
            if self.tracking is not None:
                self.tracking.end_run(run_id, "failed", "the pipeline run could not be recorded")
            raise
        return run_id

    def _end(self, run_id: str, status: RunStatus, error: str | None) -> None:
        self.records.end_run(run_id, status, error)
        if self.tracking is not None:
            self.tracking.end_run(
                run_id, "finished" if status is RunStatus.SUCCEEDED else "failed", error
            )

    # ---------- liveness ----------
    def reap_orphans(self) -> builtins.list[str]:
        """Fail the running pipeline runs whose coordinator is dead: their tracked run (which
        the coordinator keeps alive with heartbeats) was killed or reaped as lost. Their
        unfinished steps fail with them. Returns their ids. An explicit maintenance call (after
        ``Maintenance.reap_runs``, which ends the runs whose lease expired):
        reading pipeline runs never does it."""
        if self.tracking is None or not isinstance(self.records, StoredRecords):
            return []
        with self.records.stores.meta.read() as conn:
            orphans = repo.orphaned_runs(conn)
        failed = []
        for row in orphans:
            why = f"its coordinator process died: the tracked run ended as {row.status}"
            error = f"{why} ({row.error})" if row.error else why
            end_time = row.end_time if row.end_time is not None else time.time()
            try:
                with self.records.stores.meta.write() as conn:
                    repo.move_run(conn, row.id, RunStatus.FAILED, end_time=end_time, error=error)
                    repo.fail_unfinished_steps(conn, row.id, end_time, why)
            except Conflict:
                continue  # its coordinator ended it after all, just now
            failed.append(row.id)
        return failed

    # ---------- reading ----------
    def get_run(self, run_id: str) -> PipelineRun:
        """A run with its steps and their outputs; ``run_id`` may be a unique prefix."""
        return self.records.get_run(run_id)

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> builtins.list[PipelineRun]:
        return self.records.list_runs(pipeline, limit)

    def load_output(self, run_id: str, step: str, output: str = "output") -> Any:
        """The value a step of a run produced (files and folders land in a temp folder)."""
        run = self.get_run(run_id)
        s = run.step(step)
        for o in s.outputs:
            if o.name == output:
                return load_output(self.records, o, lambda: Path(tempfile.mkdtemp()))
        raise InvalidInput(
            f"step {step!r} of run {run.id} has no stored output {output!r} "
            f"(status {s.status.value}; outputs: {', '.join(o.name for o in s.outputs) or 'none'})"
        )
