"""The runs service: experiments, the lifecycle of runs, their params, tags, metric points,
inputs, artifacts and liveness, over one set of stores. Every call is its own transaction and
the service keeps no per-process state: buffering metrics, the active run and keeping a run
alive with heartbeats are the client's (:mod:`loopml.tracker`)."""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.events import RunLost, RunStarted, run_ended
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
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.identity import author, whoami
from loopml.core.names import validate_key, validate_name
from loopml.core.paths import safe_relpath
from loopml.core.refs import parse_ref
from loopml.meta.events import append_event
from loopml.stores import Stores
from loopml.tracking import log as checks
from loopml.tracking import reap
from loopml.tracking import repository as repo
from loopml.tracking.artifacts import artifact_files
from loopml.tracking.lifecycle import check_transition
from loopml.tracking.load import load_runs
from loopml.tracking.search import search_runs

log = logging.getLogger("loopml.tracking")

_MISSING = "run {!r} does not exist; list runs with: loopml runs list"


class RunService:
    """Experiments and runs over one set of stores (the ``Runs`` interface). Open runs renew
    their lease through :meth:`heartbeat`; reading never writes: dead runs are ended as lost
    only by the explicit :meth:`reap_stale`."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.heartbeat_timeout_s = stores.settings.heartbeat_timeout_s
        self.leases = reap.run_leases(self.heartbeat_timeout_s)

    # ---------- experiments ----------
    def create_experiment(self, name: str) -> Experiment:
        """A new experiment; Conflict if the name is taken."""
        validate_name(name, "experiment name")
        with self.stores.meta.write() as conn:
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
    def start_run(self, run: NewRun) -> None:
        """Record a new running run with its params, tags and ``run.started`` event; its
        first heartbeat is this write."""
        validate_name(run.experiment, "experiment name")
        checks.new_run(run)
        params = checks.param_values(run.params)
        tags = checks.tag_values(run.tags)
        created_by = author(run.created_by)
        with self.stores.meta.write() as conn:
            if repo.run_exists(conn, run.id):
                raise Conflict(f"run {run.id} exists already; a new run needs a new id")
            if run.parent_run_id is not None and not repo.run_exists(conn, run.parent_run_id):
                raise NotFound(_MISSING.format(run.parent_run_id))
            exp = repo.ensure_experiment(conn, run.experiment, run.start_time, created_by)
            repo.insert_runs(
                conn,
                [
                    {
                        "id": run.id,
                        "experiment_id": exp.id,
                        "name": run.name,
                        "status": RunStatus.RUNNING.value,
                        "start_time": run.start_time,
                        "end_time": None,
                        "created_by": created_by,
                        "code": json.dumps(run.code),
                        "environment": json.dumps(run.environment),
                        "error": None,
                        "parent_run_id": run.parent_run_id,
                        "host": run.host,
                        "pid": run.pid,
                        "pid_scope": run.pid_scope,
                    }
                ],
            )
            if params:
                repo.insert_params(conn, run.id, params)
            if tags:
                repo.upsert_tags(conn, run.id, tags)
            append_event(conn, RunStarted(run.id, run.experiment, run.name))

    def end_run(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        error: str | None = None,
    ) -> None:
        """End a running run as finished, failed (with ``error``, a traceback) or killed;
        Conflict if it has ended already (it ends once)."""
        new = RunStatus.parse(status)
        check_transition(run_id, RunStatus.RUNNING, new)
        with self.stores.meta.write() as conn:
            # The UPDATE only moves a running run, so two enders cannot both succeed.
            if not repo.end_run(conn, run_id, new, time.time(), error):
                state = repo.run_state(conn, run_id)
                if state is None:
                    raise NotFound(_MISSING.format(run_id))
                check_transition(run_id, state[0], new)
            state = repo.run_state(conn, run_id)
            assert state is not None
            append_event(
                conn, run_ended(new.value, run_id, state[1].experiment_name, state[1].name)
            )

    def run_status(self, run_id: str) -> RunStatus:
        """The stored status of a run (``run_id`` in full)."""
        with self.stores.meta.read() as conn:
            state = repo.run_state(conn, run_id)
        if state is None:
            raise NotFound(_MISSING.format(run_id))
        return state[0]

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of a run named by its id or a unique prefix."""
        with self.stores.meta.read() as conn:
            return repo.resolve_run_id(conn, run_id)

    # ---------- logging ----------
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Record params; the same value again is a no-op, a different one a Conflict (and
        then none of ``params`` is written)."""
        values = checks.param_values(params)
        with self.stores.meta.write() as conn:
            self._require(conn, run_id)
            repo.insert_params(conn, run_id, values)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set tags (a tag can be changed, unlike a param)."""
        values = checks.tag_values(tags)
        with self.stores.meta.write() as conn:
            self._require(conn, run_id)
            repo.upsert_tags(conn, run_id, values)

    def log_batch(self, batch: LogBatch) -> tuple[str, ...]:
        """Write checked params, tags and metric points of any runs in one transaction.
        A param another writer gave a run first keeps its value; the clashes come back as
        messages (the client reports them on its next flush)."""
        checks.check_batch(batch)
        late: list[str] = []
        with self.stores.meta.write() as conn:
            named = {item.run_id for item in (*batch.params, *batch.tags)}
            for run_id in named.union(batch.points.run_ids):
                self._require(conn, run_id)
            for item in batch.params:
                try:
                    repo.insert_params(conn, item.run_id, item.values)
                except Conflict as exc:
                    late.append(str(exc))
            for item in batch.tags:
                repo.upsert_tags(conn, item.run_id, item.values)
            p = batch.points
            if len(p):
                rows = list(zip(p.run_ids, p.keys, p.steps, p.timestamps, p.values, strict=True))
                try:
                    repo.write_points(conn, rows)
                except sa.exc.IntegrityError as exc:
                    raise InvalidInput(
                        f"the database refused {len(rows)} metric point(s): {exc.orig}; "
                        "log points only to runs that exist"
                    ) from exc
        return tuple(late)

    def log_input(self, run_id: str, dataset_ref: str) -> str:
        """Record that the run read a dataset version; returns it as ``name@N`` (an unversioned
        reference resolves to the latest version now)."""
        ref = parse_ref(dataset_ref, "dataset reference")
        with self.stores.meta.write() as conn:
            self._require(conn, run_id)
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
            with self.stores.meta.write() as conn:
                self._require(conn, run_id)
                ingest.commit(conn)
                repo.upsert_artifacts(conn, run_id, items)
        except BaseException:
            ingest.abort()
            raise
        ingest.remember_hashes()
        return items

    def open_artifact(self, run_id: str, path: str) -> tuple[Artifact, Iterator[bytes]]:
        """One artifact of a run and its bytes, verified against its digest as they are read
        (the chunks are located now, so a missing run, path or object fails before any byte)."""
        rel = safe_relpath(path)
        run = self.get_run(run_id)
        found = next((a for a in run.artifacts if a.path == rel), None)
        if found is None:
            listing = ", ".join(a.path for a in run.artifacts[:5]) or "none"
            raise NotFound(
                f"run {run.id} has no artifact {rel!r} (it has: {listing}); "
                f"see them with: loopml runs show {run.id}"
            )
        blobs = self.stores.blobs
        return found, blobs.read_located(blobs.locate_file(found.digest))

    def _require(self, conn: Connection, run_id: str) -> None:
        if not repo.run_exists(conn, run_id):
            raise NotFound(_MISSING.format(run_id))

    def heartbeat(self, run_ids: tuple[str, ...]) -> dict[str, RunStatus]:
        """Refresh the heartbeat of the running runs among ``run_ids`` (by the database's
        clock); returns those no longer running (ended elsewhere or reaped) with their status."""
        with self.stores.meta.write() as conn:
            return repo.heartbeat(conn, self.leases, list(run_ids))

    # ---------- liveness ----------
    def reap_stale(self) -> builtins.list[LostRun]:
        """End every running run whose lease expired as lost: one whose process, on a host
        sharing our process table, is gone (at once), or whose heartbeat is older than
        ``LOOPML_HEARTBEAT_TIMEOUT_S`` (from anywhere). Its end time is its last heartbeat
        and its error says why. An explicit maintenance call (``loopml runs reap``, ``loopml
        gc``): reading runs never does it."""
        with self.stores.meta.read() as conn:
            dead = repo.expired_runs(conn, self.leases)
        return self._end_lost(dead) if dead else []

    def _end_lost(self, dead: builtins.list[Any]) -> builtins.list[LostRun]:
        lost: builtins.list[LostRun] = []
        with self.stores.meta.write() as conn:
            for lease in dead:
                row, end_time = lease.row, lease.expiry.last
                reason = reap.why_lost(lease, self.heartbeat_timeout_s)
                # Skipped if it sent a heartbeat (or was ended) since it was judged.
                if repo.mark_lost(conn, self.leases, lease, end_time, reason):
                    append_event(conn, RunLost(row.id, row.experiment_name, row.name, reason))
                    lost.append(LostRun(row.id, row.experiment_name, row.name, end_time, reason))
        for item in lost:
            log.warning(
                "loopml: run %s (%s/%s) %s", item.id, item.experiment, item.name, item.reason
            )
        return lost

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read transaction; it never ends other runs (reaping is :meth:`reap_stale`)."""
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
        validate_key(key, "metric")
        with self.stores.meta.read() as conn:
            full = repo.resolve_run_id(conn, run_id)
            return repo.metric_history(conn, full, key)


class SearchService:
    """Finding runs (the ``Search`` interface), over the runs of one :class:`RunService`."""

    def __init__(self, runs: RunService) -> None:
        self.runs = runs

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
        with self.runs._reading() as conn:
            return search_runs(conn, experiment, filter, order_by, limit)

    def list_runs(
        self, experiment: str | Sequence[str] | None = None, limit: int = 100
    ) -> builtins.list[Run]:
        return self.search_runs(experiment, None, None, limit)
