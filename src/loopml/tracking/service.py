"""Experiment tracking's one entry point over the stores."""

from __future__ import annotations

import atexit
import builtins
import contextlib
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from loopml.api.events import RunLost, run_ended
from loopml.core.errors import Conflict, InvalidInput, LoopError, NotFound
from loopml.core.identity import whoami
from loopml.core.names import validate_name
from loopml.core.refs import parse_ref
from loopml.meta.events import append_event
from loopml.stores import Stores
from loopml.tracking import active, reap, terminate
from loopml.tracking import log as checks
from loopml.tracking import repository as repo
from loopml.tracking.active import ActiveRun
from loopml.tracking.artifacts import artifact_files
from loopml.tracking.flush import Writer
from loopml.tracking.load import load_runs
from loopml.tracking.provenance import code_version, environment_json
from loopml.tracking.run import Artifact, Experiment, MetricPoint, Run, RunStatus, check_transition
from loopml.tracking.search import search_runs

log = logging.getLogger("loopml.tracking")
DEFAULT_EXPERIMENT = "default"


class TrackingService:
    """Experiments and runs over one set of stores. A new run is written at once; params,
    tags and metrics of the runs it started are written behind (see
    :mod:`loopml.tracking.flush`); ``flush()``, ``end_run`` and interpreter exit commit them.
    Its open runs send heartbeats (their lease); reading never writes: dead runs are ended as
    lost only by the explicit :meth:`reap_stale`."""

    def __init__(self, stores: Stores, flush_interval_s: float = 1.0) -> None:
        self.stores = stores
        self.heartbeat_timeout_s = stores.settings.heartbeat_timeout_s
        self.leases = reap.run_leases(self.heartbeat_timeout_s)
        self.writer = Writer(
            stores.meta,
            interval_s=flush_interval_s,
            heartbeat_s=stores.settings.heartbeat_s,
            leases=self.leases,
        )
        self._known_runs: set[str] = set()  # ids checked to exist; logging skips the lookup
        self._metric_keys: set[str] = set()  # keys already validated
        self._params: dict[str, dict[str, str]] = {}  # params of the runs in _open
        self._open: dict[str, ActiveRun] = {}  # runs this service started and has not ended
        self._armed = False

    # ---------- experiments ----------
    def create_experiment(self, name: str) -> Experiment:
        """A new experiment; Conflict if the name is taken."""
        validate_name(name, "experiment name")
        with self.writer.transaction() as conn:
            if repo.find_experiment(conn, name) is not None:
                raise Conflict(f"experiment {name!r} already exists; use it or pick another name")
            return repo.ensure_experiment(conn, name, time.time(), whoami())

    def get_experiment(self, name: str) -> Experiment:
        validate_name(name, "experiment name")
        with self.stores.meta.read() as conn:
            found = repo.find_experiment(conn, name)
        if found is None:
            raise NotFound(
                f"experiment {name!r} does not exist; it is created by its first run: "
                f"loopml.start_run(experiment={name!r})"
            )
        return found

    def list_experiments(self) -> builtins.list[Experiment]:
        with self.stores.meta.read() as conn:
            return repo.list_experiments(conn)

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
            with self.stores.meta.read() as conn:
                parent_run_id = repo.resolve_run_id(conn, parent_run_id)
        owner = reap.this_process()
        # Written now, not at the next flush: a process killed right after this line still
        # leaves a row, with its owner, for reap_stale to end as lost.
        self.writer.write_run(
            {
                "id": run_id,
                "experiment": experiment,
                "name": name,
                "status": RunStatus.RUNNING.value,
                "start_time": time.time(),
                "end_time": None,
                "created_by": whoami(),
                "code": json.dumps(code_version(os.getcwd())),
                "environment": environment_json(),
                "error": None,
                "parent_run_id": parent_run_id,
                "host": owner.host,
                "pid": owner.pid,
                "pid_scope": owner.scope,
            },
            param_values,
            tag_values,
        )
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
        buffered metrics are committed in the same transaction."""
        new = RunStatus.parse(status)
        check_transition(run_id, RunStatus.RUNNING, new)
        handle = self._open.get(run_id)
        try:
            self._end_written_run(run_id, new, error, handle)
        except Conflict:
            # Ended elsewhere first (e.g. reaped as lost while its heartbeat was late): this
            # process stops treating it as open, and the caller learns how it ended.
            if handle is not None:
                self._forget(handle, self._stored_status(run_id))
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

    def _stored_status(self, run_id: str) -> RunStatus:
        with self.stores.meta.read() as conn:
            state = repo.run_state(conn, run_id)
        return RunStatus.KILLED if state is None else state[0]

    def _end_written_run(
        self, run_id: str, new: RunStatus, error: str | None, handle: ActiveRun | None
    ) -> None:
        with self.writer.transaction() as conn:
            # The UPDATE only moves a running run, so two enders cannot both succeed.
            if not repo.end_run(conn, run_id, new, time.time(), error):
                state = repo.run_state(conn, run_id)
                if state is None:
                    raise NotFound(
                        f"run {run_id!r} does not exist; list runs with: loopml runs list"
                    )
                check_transition(run_id, state[0], new)
            if handle is not None:
                experiment, name = handle.experiment, handle.name
            else:
                state = repo.run_state(conn, run_id)
                assert state is not None
                experiment, name = state[1].experiment_name, state[1].name
            append_event(conn, run_ended(new.value, run_id, experiment, name))

    # ---------- logging ----------
    def _arm(self) -> None:
        """Commit buffered points and end this service's open runs at interpreter exit."""
        if not self._armed:
            self._armed = True
            atexit.register(self._at_exit)

    def _check_run(self, run_id: str) -> None:
        with self.stores.meta.read() as conn:
            found = repo.run_exists(conn, run_id)
        if not found:
            raise NotFound(
                f"run {run_id!r} does not exist (logging needs its full id); "
                "list runs with: loopml runs list"
            )
        self._known_runs.add(run_id)
        self._arm()

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Record params; the same value again is a no-op, a different one a Conflict (and
        then none of ``params`` is written)."""
        values = checks.param_values(params)
        logged = self._params.get(run_id)
        if logged is not None:
            # A run this service started: it knows every param logged so far.
            for key, value in values.items():
                if logged.get(key, value) != value:
                    raise repo.param_conflict(run_id, key, logged[key], value)
            new = {k: v for k, v in values.items() if k not in logged}
            if new:
                logged.update(new)
                self.writer.add_params(run_id, new)
            return
        with self.writer.transaction() as conn:
            if run_id not in self._known_runs and not repo.run_exists(conn, run_id):
                raise NotFound(f"run {run_id!r} does not exist; list runs with: loopml runs list")
            repo.insert_params(conn, run_id, values)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set tags (a tag can be changed, unlike a param)."""
        values = checks.tag_values(tags)
        if run_id in self._open:
            if values:
                self.writer.add_tags(run_id, values)
            return
        with self.writer.transaction() as conn:
            if run_id not in self._known_runs and not repo.run_exists(conn, run_id):
                raise NotFound(f"run {run_id!r} does not exist; list runs with: loopml runs list")
            repo.upsert_tags(conn, run_id, values)

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
            self._metric_keys.add(checks.check_key(key, "metric"))
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
                keys.add(checks.check_key(key, "metric"))
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
        """Block until everything logged so far (runs, params, tags, metrics) is committed."""
        self.writer.flush()

    def log_input(self, run_id: str, dataset_ref: str) -> str:
        """Record that the run read a dataset version; returns it as ``name@N`` (an unversioned
        reference resolves to the latest version now)."""
        ref = parse_ref(dataset_ref, "dataset reference")
        with self.writer.transaction() as conn:
            if run_id not in self._known_runs and not repo.run_exists(conn, run_id):
                raise NotFound(f"run {run_id!r} does not exist; list runs with: loopml runs list")
            version_id, resolved = repo.dataset_version_id(conn, ref)
            repo.insert_input(conn, run_id, version_id)
        return resolved

    def log_artifact(
        self, run_id: str, path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> builtins.list[Artifact]:
        """Store a file (as ``[artifact_path/]NAME``) or a folder's files (under
        ``artifact_path``) in the blob store; a path logged again is replaced."""
        files = artifact_files(Path(path), artifact_path)
        ingest = self.stores.blobs.ingest()
        try:
            stored = [(rel, ingest.add_path(p)) for rel, p in files]
            ingest.finish()
            items = [Artifact(rel, s.size, s.digest) for rel, s in stored]
            with self.writer.transaction() as conn:
                if run_id not in self._known_runs and not repo.run_exists(conn, run_id):
                    raise NotFound(
                        f"run {run_id!r} does not exist; list runs with: loopml runs list"
                    )
                ingest.commit(conn)
                repo.upsert_artifacts(conn, run_id, items)
        except BaseException:
            ingest.abort()
            raise
        ingest.remember_hashes()
        return items

    # ---------- liveness ----------
    def reap_stale(self) -> builtins.list[reap.LostRun]:
        """End every running run whose lease expired as lost: one whose process, on a host
        sharing our process table, is gone (at once), or whose heartbeat is older than
        ``LOOPML_HEARTBEAT_TIMEOUT_S`` (from anywhere). Its end time is its last heartbeat
        and its error says why. An explicit maintenance call (``loopml runs reap``, ``loopml
        gc``): reading runs never does it."""
        with self.stores.meta.read() as conn:
            dead = repo.expired_runs(conn, self.leases)
        return self._end_lost(dead) if dead else []

    def _end_lost(self, dead: builtins.list[Any]) -> builtins.list[reap.LostRun]:
        lost: builtins.list[reap.LostRun] = []
        with self.writer.transaction() as conn:
            for lease in dead:
                row, end_time = lease.row, lease.expiry.last
                reason = reap.why_lost(lease, self.heartbeat_timeout_s)
                # Skipped if it sent a heartbeat (or was ended) since it was judged.
                if repo.mark_lost(conn, self.leases, lease, end_time, reason):
                    append_event(conn, RunLost(row.id, row.experiment_name, row.name, reason))
                    lost.append(
                        reap.LostRun(row.id, row.experiment_name, row.name, end_time, reason)
                    )
        for item in lost:
            log.warning(
                "loopml: run %s (%s/%s) %s", item.id, item.experiment, item.name, item.reason
            )
        return lost

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read transaction that sees what this process logged (its own buffered writes
        are committed first); it never ends other runs (reaping is :meth:`reap_stale`)."""
        self.writer.commit_pending()
        with self.stores.meta.read() as conn:
            yield conn

    # ---------- reading ----------
    def get_run(self, run_id: str) -> Run:
        """Everything about one run: status, times, params, tags, latest metrics, inputs
        (``name@N``), artifacts, code and environment. ``run_id`` may be a unique prefix."""
        with self._reading() as conn:
            full = repo.resolve_run_id(conn, run_id)
            state = repo.run_state(conn, full)
            assert state is not None
            return load_runs(conn, [state[1]])[0]

    def metric_history(self, run_id: str, key: str) -> builtins.list[MetricPoint]:
        """Every point of one metric of a run, by step."""
        self.writer.commit_pending()
        with self.stores.meta.read() as conn:
            full = repo.resolve_run_id(conn, run_id)
            return repo.metric_history(conn, full, key)

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[Run]:
        """Runs matching a filter (grammar in ``loopml.tracking.filter``), newest first unless
        ``order_by`` (e.g. ``["metrics.accuracy desc"]``) says otherwise; results carry params,
        tags and latest metric values, not the environment or metric ranges (get_run has them)."""
        with self._reading() as conn:
            return search_runs(conn, experiment, filter, order_by, limit)

    def list_runs(
        self, experiment: str | Sequence[str] | None = None, limit: int = 100
    ) -> builtins.list[Run]:
        return self.search_runs(experiment, None, None, limit)

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
