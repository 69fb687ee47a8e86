"""The coordinator of one run: walks the graph in topological order, takes what it can from
the cache, hands the rest to an executor as their inputs become ready, skips what depends on
a failure (or on a condition that said no), and reports steps to the tracked run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from loopml.api.pipelines import Output, StepRun, StepStatus
from loopml.core.errors import Cancelled, LoopError
from loopml.pipelines import cache
from loopml.pipelines import materializers as mats
from loopml.pipelines.pipeline import Node, Plan, Spec
from loopml.pipelines.records import Records
from loopml.pipelines.worker import StepResult, StepTask, load_output

log = logging.getLogger("loopml.pipelines")
FILES_HELD = 64 * 1024 * 1024
Progress = Callable[[str, StepStatus, str], None]


class Died(Protocol):
    step: str
    reason: str


class Executor(Protocol):
    name: str

    def free_slots(self) -> int: ...

    def submit(self, task: StepTask) -> None: ...

    def wait(self, timeout: float | None = None) -> list[Any]: ...

    def close(self, kill: bool = False) -> None: ...


class Tracker(Protocol):
    """What the coordinator reports to experiment tracking."""

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None: ...

    def log_input(self, run_id: str, dataset_ref: str) -> str: ...

    def flush(self) -> None: ...


@dataclass
class Pending:
    """An input artifact as ``cache_extra`` sees it: its digest, and its value on demand."""

    output: Output
    records: Records

    @property
    def digest(self) -> str:
        return self.output.digest

    def load(self) -> Any:
        import tempfile
        from pathlib import Path

        return load_output(self.records, self.output, lambda: Path(tempfile.mkdtemp()))


@dataclass
class Outcome:
    failed: dict[str, str] = field(default_factory=dict)  # step → first line of its error

    @property
    def ok(self) -> bool:
        return not self.failed


class Coordinator:
    def __init__(
        self,
        records: Records,
        tracker: Tracker | None,
        plan: Plan,
        run_id: str,
        executor: Executor,
        use_cache: bool = True,
        reuse: dict[str, StepRun] | None = None,
        progress: Progress | None = None,
        backend: Any = None,
        connect: Callable[..., Any] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        self.records = records
        self.cancelled = cancelled  # asked about once a second while steps run
        self.tracker = tracker
        self.backend = backend  # the other services, for ``cache_extra`` of built-in steps
        self.connect = connect
        self.plan = plan
        self.run_id = run_id
        self.executor = executor
        self.use_cache = use_cache
        self.reuse = reuse or {}
        self.progress = progress or (lambda _s, _st, _m: None)
        self.status: dict[str, StepStatus] = {n: StepStatus.PENDING for n in plan.nodes}
        self.blocked: dict[str, str] = {}  # step → why the steps after it cannot run
        self.outputs: dict[tuple[str, str], Output] = {}
        self.digests: dict[tuple[str, str], str] = {}  # the outputs' digests, for cache keys
        # Bytes of small output files the workers sent back, passed on to the steps that
        # read them (up to FILES_HELD bytes in all; later ones are read from the store).
        self.files: dict[str, bytes] = {}
        self._files_size = 0
        self.keys: dict[str, str] = {}
        self._fingerprints: dict[int, str] = {}  # per step object: its code does not change
        self.outcome = Outcome()

    # ---------- the loop ----------
    def run(self) -> Outcome:
        pending = list(self.plan.nodes)
        in_flight: set[str] = set()
        must_run: set[str] = set()
        while pending or in_flight:
            self._check_cancelled()
            progressed = True
            while progressed:
                progressed = False
                for name in list(pending):
                    node = self.plan.nodes[name]
                    why = next((self.blocked[d] for d in node.upstream if d in self.blocked), None)
                    if why is not None:
                        self._skip(name, why)
                    elif all(self.status[d].has_outputs for d in node.upstream):
                        if name not in must_run:
                            if self._try_without_running(node):
                                pending.remove(name)
                                progressed = True
                                continue
                            must_run.add(name)
                        if self.executor.free_slots() <= 0:
                            continue
                        if self._submit(node):
                            in_flight.add(name)
                    else:
                        continue
                    pending.remove(name)
                    progressed = True
            if in_flight:
                for result in self.executor.wait(None if self.cancelled is None else 1.0):
                    in_flight.discard(result.step)
                    self._finished(result)
            elif pending:  # cannot happen with a checked graph; never spin
                for name in pending:
                    self._fail_unstarted(name, "its inputs never became ready")
                pending.clear()
        return self.outcome

    def abort(self, reason: str) -> None:
        """Mark every step that has not ended as failed (after Ctrl-C or a coordinator bug)."""
        self.executor.close(kill=True)
        self.records.abort(self.run_id, reason)

    def _check_cancelled(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(f"pipeline run {self.run_id} was cancelled while it ran")

    # ---------- per step ----------
    def _key(self, node: Node) -> str:
        step = node.step
        fingerprint = self._fingerprints.get(id(step))
        if fingerprint is None:
            fingerprint = self._fingerprints[id(step)] = cache.code_fingerprint(
                step.func, step.outputs
            )
        extra = None
        if step.cache_extra is not None:
            args = [self._pending(s) for s in node.args]
            kwargs = {k: self._pending(s) for k, s in node.kwargs.items()}
            extra = step.cache_extra(self.backend, *args, **kwargs)
        return cache.cache_key(fingerprint, node.args, node.kwargs, self.digests, extra)

    def _pending(self, spec: Spec) -> Any:
        kind = spec[0]
        if kind == "ref":
            return Pending(self.outputs[(spec[1], spec[2])], self.records)
        if kind == "list":
            items = [self._pending(s) for s in spec[1]]
            return tuple(items) if spec[2] else items
        if kind == "dict":
            return {k: self._pending(s) for k, s in spec[1].items()}
        return spec[1]

    def _try_without_running(self, node: Node) -> bool:
        """Take the step from a resumed run or the cache; False if it has to run."""
        if node.step.has_effects:  # its effect happens only when it runs: no key, no reuse
            return False
        try:
            key = self.keys[node.name] = self._key(node)
        except Exception as exc:  # user code in cache_extra, or a store error
            self._fail_unstarted(node.name, f"cannot compute the cache key: {exc}")
            return True
        candidates: list[StepRun] = []
        old = self.reuse.get(node.name)
        if old is not None and old.cache_key == key:
            candidates.append(old)
        if self.use_cache and node.step.cache:
            candidates += self.records.cache_candidates(key)
        for c in candidates:
            if self._usable(node, c):
                self._take_cached(node, key, c)
                return True
        return False

    def _usable(self, node: Node, c: StepRun) -> bool:
        names = {o.name for o in c.outputs}
        went = c.decision is None or c.decision.get("go", True)
        if went and names != set(node.step.outputs):
            return False
        return self.records.files_stored({f.digest for o in c.outputs for f in o.files})

    def _take_cached(self, node: Node, key: str, c: StepRun) -> None:
        self.records.take_cached(self.run_id, node.name, key, c)
        self._report(node.name, c.metrics or {}, list(c.datasets))
        self._done(node.name, StepStatus.CACHED, c.outputs, c.decision)
        self.progress(node.name, StepStatus.CACHED, f"from run {c.cached_from}")

    def _submit(self, node: Node) -> bool:
        """Hand the step to the executor; False if it could not be sent (then it failed)."""
        self.status[node.name] = StepStatus.RUNNING
        args = [self._resolved(s) for s in node.args]
        kwargs = {k: self._resolved(s) for k, s in node.kwargs.items()}
        task = StepTask(
            run_id=self.run_id,
            step=node.name,
            func=node.step.func,
            outputs=node.step.outputs,
            args=args,
            kwargs=kwargs,
            files=self._known_inputs([*args, *kwargs.values()]),
            cache_key=self.keys.get(node.name),
            materializers=mats.user_registrations(),
            resources=dict(node.step.resources),
            source_file=node.step.func.__code__.co_filename,
            connect=self.connect,
        )
        try:
            self.executor.submit(task)
        except LoopError as exc:
            self._fail_unstarted(node.name, str(exc))
            return False
        self.progress(node.name, StepStatus.RUNNING, "")
        return True

    def _known_inputs(self, specs: list[tuple[Any, ...]]) -> dict[str, bytes]:
        """Bytes of the input files in resolved ``specs`` that the coordinator holds."""
        known: dict[str, bytes] = {}
        todo = list(specs)
        while todo and self.files:
            spec = todo.pop()
            if spec[0] == "artifact":
                for f in spec[1].files:
                    data = self.files.get(f.digest)
                    if data is not None:
                        known[f.digest] = data
            elif spec[0] == "list":
                todo += spec[1]
            elif spec[0] == "dict":
                todo += spec[1].values()
        return known

    def _keep_files(self, files: dict[str, bytes]) -> None:
        for digest, data in files.items():
            if digest not in self.files and self._files_size + len(data) <= FILES_HELD:
                self.files[digest] = data
                self._files_size += len(data)

    def _resolved(self, spec: Spec) -> tuple[Any, ...]:
        kind = spec[0]
        if kind == "ref":
            return ("artifact", self.outputs[(spec[1], spec[2])])
        if kind == "list":
            return ("list", [self._resolved(s) for s in spec[1]], spec[2])
        if kind == "dict":
            return ("dict", {k: self._resolved(s) for k, s in spec[1].items()})
        return spec

    def _finished(self, result: Any) -> None:
        if isinstance(result, StepResult):
            if result.status is StepStatus.SUCCEEDED:
                self._keep_files(result.files)
                self._report(result.step, result.metrics, result.datasets)
                self._done(result.step, StepStatus.SUCCEEDED, result.outputs, result.decision)
                took = (result.end_time or 0) - (result.start_time or 0)
                self.progress(result.step, StepStatus.SUCCEEDED, f"{took:.2f} s")
            else:
                self._failed(result.step, result.error or "failed")
            return
        self._worker_died(result.step, result.reason)

    def _worker_died(self, step: str, reason: str) -> None:
        """Record a dead worker's step as failed, unless it committed its success first."""
        status = self.records.fail_step(self.run_id, step, reason)
        if status is StepStatus.SUCCEEDED:
            got = self.records.get_run(self.run_id).step(step)
            self._report(step, got.metrics or {}, list(got.datasets))
            self._done(step, StepStatus.SUCCEEDED, list(got.outputs), got.decision)
            return
        self._failed(step, reason)

    def _done(
        self, name: str, status: StepStatus, outputs: Any, decision: dict[str, Any] | None
    ) -> None:
        self.status[name] = status
        for o in outputs:
            self.outputs[(name, o.name)] = o
            self.digests[(name, o.name)] = o.digest
        if decision is not None and not decision.get("go", True):
            self.blocked[name] = f"condition {name!r} decided not to go on: {decision['reason']}"

    def _failed(self, name: str, error: str) -> None:
        self.status[name] = StepStatus.FAILED
        self.blocked[name] = f"step {name!r} failed"
        last = error.strip().splitlines()[-1] if error.strip() else "failed"
        self.outcome.failed[name] = last
        self.progress(name, StepStatus.FAILED, last)

    def _fail_unstarted(self, name: str, error: str) -> None:
        now = time.time()
        self.records.move_step(
            self.run_id, name, StepStatus.FAILED, error=error, start_time=now, end_time=now
        )
        self._failed(name, error)

    def _skip(self, name: str, why: str) -> None:
        self.status[name] = StepStatus.SKIPPED
        self.blocked[name] = why
        self.records.move_step(self.run_id, name, StepStatus.SKIPPED, error=f"skipped: {why}")
        self.progress(name, StepStatus.SKIPPED, why)

    def _report(self, name: str, metrics: dict[str, float], datasets: list[str]) -> None:
        if self.tracker is None or not (metrics or datasets):
            return
        try:
            if metrics:
                self.tracker.log_metrics(self.run_id, metrics)
            for ref in datasets:
                self.tracker.log_input(self.run_id, ref)
            self.tracker.flush()  # later steps (register_model) read them back
        except LoopError as exc:
            log.warning("step %s: could not record metrics/inputs on the run: %s", name, exc)
