"""The client side of experiment tracking: the runs this process started, their params (to
check clashes without a round trip), the metric buffer and its flusher, and ending open runs
at exit or on SIGTERM. It writes through the runs service's interface only."""

from __future__ import annotations

import atexit
import builtins
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from loopml.api.protocols import Maintenance, Runs, Search
from loopml.api.runs import Artifact, Experiment, LostRun, MetricPoint, NewRun, Run, RunStatus
from loopml.core.errors import Conflict, InvalidInput, LoopError, NotFound
from loopml.core.identity import whoami
from loopml.core.names import validate_key, validate_name
from loopml.core.process import this_process
from loopml.tracker import active, terminate
from loopml.tracker.active import ActiveRun
from loopml.tracker.buffer import Writer
from loopml.tracker.provenance import code_version, environment
from loopml.tracking import log as checks

DEFAULT_EXPERIMENT = "default"


class Tracker:
    """Start runs, log to them and read them back, for one process over one backend. Params,
    tags and metrics of the runs it started are written behind (:mod:`loopml.tracker.buffer`);
    ``flush()``, ``end_run`` and interpreter exit commit them. Its open runs send heartbeats.
    ``maintenance`` is a getter, called only by :meth:`reap_stale` (a remote client may have
    no maintenance service without it mattering to tracking)."""

    def __init__(
        self,
        runs: Runs,
        search: Search,
        maintenance: Callable[[], Maintenance],
        flush_interval_s: float = 1.0,
        heartbeat_s: float = 10.0,
    ) -> None:
        self.runs = runs
        self.search = search
        self._maintenance = maintenance  # got on first use: only reap_stale needs it
        self.writer = Writer(runs, interval_s=flush_interval_s, heartbeat_s=heartbeat_s)
        self._known_runs: set[str] = set()  # ids checked to exist; logging skips the lookup
        self._metric_keys: set[str] = set()  # keys already validated
        self._params: dict[str, dict[str, str]] = {}  # params of the runs in _open
        self._open: dict[str, ActiveRun] = {}  # runs this process started and has not ended
        self._armed = False

    # ---------- experiments ----------
    def create_experiment(self, name: str) -> Experiment:
        return self.runs.create_experiment(name)

    def get_experiment(self, name: str) -> Experiment:
        return self.runs.get_experiment(name)

    def list_experiments(self) -> builtins.list[Experiment]:
        return self.runs.list_experiments()

    # ---------- run lifecycle ----------
    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> ActiveRun:
        """Start a run and make it the active one; a run started inside another becomes its
        child unless ``parent_run_id`` says otherwise."""
        validate_name(experiment, "experiment name")
        run_id = uuid.uuid4().hex
        name = checks.run_name(name) if name is not None else f"run-{run_id[:8]}"
        param_values = checks.param_values(params or {})
        tag_values = checks.tag_values(tags or {})
        if parent_run_id is None:
            outer = active.current_run()
            parent_run_id = outer.id if outer is not None else None
        if parent_run_id is not None and parent_run_id not in self._known_runs:
            parent_run_id = self.runs.resolve_run_id(parent_run_id)
        owner = this_process()
        new = NewRun(
            id=run_id,
            experiment=experiment,
            name=name,
            start_time=time.time(),
            created_by=whoami(),
            code=code_version(os.getcwd()),
            environment=environment(),
            parent_run_id=parent_run_id,
            host=owner.host,
            pid=owner.pid,
            pid_scope=owner.scope,
            params=param_values,
            tags=tag_values,
        )
        # Written now, not at the next flush: a process killed right after this line still
        # leaves a row, with its owner, for the reaper to end as lost.
        with self.writer.ordered():
            self.runs.start_run(new)
        self.writer.watch(run_id)
        self._params[run_id] = dict(param_values)
        self._known_runs.add(run_id)
        handle = ActiveRun(self, run_id, experiment, name, parent_run_id)
        self._open[run_id] = handle
        active.push(handle)
        self._arm()
        terminate.watch(self)
        return handle

    def end_run(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        error: str | None = None,
    ) -> None:
        """End a running run as finished, failed (with ``error``, a traceback) or killed;
        what was buffered for it is committed first."""
        new = RunStatus.parse(status)
        handle = self._open.get(run_id)
        try:
            with self.writer.ordered():
                self.writer.unwatch(run_id)  # no heartbeat may follow the end
                try:
                    self.runs.end_run(run_id, new, error)
                except Conflict:
                    raise  # it has ended already
                except BaseException:
                    if handle is not None:
                        self.writer.watch(run_id)  # still running: keep it alive
                    raise
        except Conflict:
            # Ended elsewhere first (e.g. reaped as lost while its heartbeat was late): this
            # process stops treating it as open, and the caller learns how it ended.
            if handle is not None:
                self._forget(handle, self.runs.run_status(run_id))
            raise
        if handle is not None:
            self._forget(handle, new)
        else:
            self._open.pop(run_id, None)
            self._params.pop(run_id, None)

    def _forget(self, handle: ActiveRun, status: RunStatus) -> None:
        self.writer.unwatch(handle.id)
        self._open.pop(handle.id, None)
        self._params.pop(handle.id, None)
        handle.status = status
        active.pop(handle)

    # ---------- logging ----------
    def _arm(self) -> None:
        """Commit buffered points and end this process's open runs at interpreter exit."""
        if not self._armed:
            self._armed = True
            atexit.register(self._at_exit)

    def _check_run(self, run_id: str) -> None:
        try:
            status = self.runs.run_status(run_id)
        except NotFound:
            raise NotFound(
                f"run {run_id!r} does not exist (logging needs its full id); "
                "list runs with: loopml runs list"
            ) from None
        del status
        self._known_runs.add(run_id)
        self._arm()

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Record params; the same value again is a no-op, a different one a Conflict (and
        then none of ``params`` is written)."""
        values = checks.param_values(params)
        logged = self._params.get(run_id)
        if logged is not None:
            # A run this process started: it knows every param logged so far.
            for key, value in values.items():
                if logged.get(key, value) != value:
                    raise checks.param_conflict(run_id, key, logged[key], value)
            new = {k: v for k, v in values.items() if k not in logged}
            if new:
                logged.update(new)
                self.writer.add_params(run_id, new)
            return
        with self.writer.ordered():
            self.runs.log_params(run_id, values)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set tags (a tag can be changed, unlike a param)."""
        values = checks.tag_values(tags)
        if run_id in self._open:
            if values:
                self.writer.add_tags(run_id, values)
            return
        with self.writer.ordered():
            self.runs.set_tags(run_id, values)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {key: value})

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Buffer one point; it is committed by the background flusher, ``flush()``,
        ``end_run`` or interpreter exit. ``step=None`` numbers the key's points 0, 1, 2, … in
        the order this process logs them."""
        if run_id not in self._known_runs:
            self._check_run(run_id)
        if key not in self._metric_keys:
            self._metric_keys.add(validate_key(key, "metric"))
        if type(value) is not float or value - value != 0.0:  # NaN and ±inf fail x - x == 0
            value = checks.metric_value(key, value)
        if step is not None and type(step) is not int:
            step = checks.step_value(key, step)
        ts = time.time() if timestamp is None else checks.timestamp_value(key, timestamp)
        self.writer.add(run_id, key, value, step, ts)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Buffer several metrics at one step; all are checked before any is buffered."""
        if not isinstance(metrics, Mapping):
            raise InvalidInput("metrics must be a mapping such as {'loss': 0.3}")
        points = [(k, v, step, timestamp) for k, v in metrics.items()]
        self.log_metric_batch(run_id, points)

    def log_metric_batch(self, run_id: str, points: Iterable[Sequence[Any]]) -> None:
        """Buffer ``(key, value[, step[, timestamp]])`` points; all are checked first."""
        if run_id not in self._known_runs:
            self._check_run(run_id)
        now = time.time()
        rows: list[Any] = []
        append = rows.append
        keys = self._metric_keys
        for p in points:
            n = len(p)
            if n == 4:
                key, value, step, ts = p
            elif n == 3:
                key, value, step = p
                ts = None
            elif n == 2:
                key, value = p
                step = ts = None
            else:
                raise InvalidInput(
                    f"a metric point is (key, value[, step[, timestamp]]), got {p!r}"
                )
            if key not in keys:
                keys.add(validate_key(key, "metric"))
            if type(value) is not float or value - value != 0.0:  # also NaN and ±inf
                value = checks.metric_value(key, value)
            if step is not None and type(step) is not int:
                step = checks.step_value(key, step)
            if ts is None:
                ts = now
            elif type(ts) is not float or not ts >= 0.0 or ts - ts != 0.0:
                ts = checks.timestamp_value(key, ts)
            append((run_id, key, step, ts, value))
        self.writer.add_many(rows)

    def flush(self) -> None:
        """Block until everything logged so far (params, tags, metrics) is committed."""
        self.writer.flush()

    def log_input(self, run_id: str, dataset_ref: str) -> str:
        """Record that the run read a dataset version; returns it as ``name@N``."""
        with self.writer.ordered():
            return self.runs.log_input(run_id, dataset_ref)

    def log_artifact(
        self, run_id: str, path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> builtins.list[Artifact]:
        """Store a file (as ``[artifact_path/]NAME``) or a folder's files (under
        ``artifact_path``); a path logged again is replaced."""
        with self.writer.ordered():
            return self.runs.log_artifact(run_id, path, artifact_path)

    # ---------- reading (after what this process logged) ----------
    def get_run(self, run_id: str) -> Run:
        self.writer.commit_pending()
        return self.runs.get_run(run_id)

    def metric_history(self, run_id: str, key: str) -> builtins.list[MetricPoint]:
        self.writer.commit_pending()
        return self.runs.metric_history(run_id, key)

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[Run]:
        self.writer.commit_pending()
        return self.search.search_runs(experiment, filter, order_by, limit)

    def list_runs(
        self, experiment: str | Sequence[str] | None = None, limit: int = 100
    ) -> builtins.list[Run]:
        return self.search_runs(experiment, None, None, limit)

    def reap_stale(self) -> builtins.list[LostRun]:
        """End every dead running run as lost (see :meth:`Maintenance.reap_runs`)."""
        return self._maintenance().reap_runs()

    # ---------- shutting down ----------
    def end_open_runs_on_signal(self, signum: int) -> None:
        """End this process's open runs as killed (from the SIGTERM handler, in the main
        thread); skipped when the interrupted code is itself writing, and the runs are then
        reaped as lost once the process is gone."""
        if not self._open or not self.writer.can_write_from_signal_handler():
            return
        error = f"killed by {signal.Signals(signum).name} (pid {os.getpid()})"
        for handle in builtins.list(self._open.values()):
            try:
                handle.end(RunStatus.KILLED, error)
            except LoopError as exc:
                sys.stderr.write(f"loopml: could not end run {handle.id}: {exc}\n")

    def _at_exit(self) -> None:
        exc = getattr(sys, "last_value", None)
        status, error = active.exit_status(exc) if exc is not None else (RunStatus.FINISHED, None)
        for handle in builtins.list(self._open.values()):
            try:
                handle.end(status, error)
            except LoopError as end_exc:
                sys.stderr.write(f"loopml: could not end run {handle.id}: {end_exc}\n")
        try:
            self.writer.close()
        except LoopError as flush_exc:
            sys.stderr.write(f"loopml: metrics not saved at exit: {flush_exc}\n")

    def close(self) -> None:
        """Commit buffered metrics and stop the flusher and its heartbeats; runs still open
        stay running until their process ends (then they are reaped as lost)."""
        if self._armed:
            atexit.unregister(self._at_exit)
            self._armed = False
        self.writer.close()
