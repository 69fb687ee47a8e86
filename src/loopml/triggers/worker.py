"""One worker step: requeue jobs whose worker died, claim one runnable job under a lease, run
it with a heartbeat, and record the outcome only if the lease is still ours.

Claiming: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` (workers skip each other's rows);
on SQLite the write transaction (``BEGIN IMMEDIATE``) makes the claim a single writer's
compare-and-set update (``… WHERE status = 'queued'``). A job's lease is the one lease of
:mod:`loopml.meta.lease`: a worker whose pid is gone on this host lets go at once, one on
another host when its heartbeat is ``ttl`` old. A requeued job runs again; a pipeline reuses
the cached steps of the interrupted run."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.triggers import Job, JobStatus
from loopml.core.errors import Cancelled
from loopml.meta.lease import Holder, LeaseColumns, Leases, new_token, this_process
from loopml.meta.tables import jobs, triggers
from loopml.triggers import repository as repo
from loopml.triggers.context import Context
from loopml.triggers.lifecycle import check_job_transition

J = jobs.c
_COLUMNS = LeaseColumns(
    table=jobs,
    key=J.id,
    renewed_at=J.renewed_at,
    host=J.lease_host,
    pid=J.lease_pid,
    scope=J.lease_scope,
    held=lambda: J.status == JobStatus.RUNNING.value,
    token=J.lease_token,
    since=J.started_at,
)
_FREED = {"lease_token": None, "lease_host": None, "lease_pid": None, "lease_scope": None}


def leases(svc: Context) -> Leases:
    return Leases(_COLUMNS, svc.lease_ttl_s, svc.clock)


def requeue_lost(svc: Context) -> list[int]:
    """Put back in the queue every running job whose worker's lease is no longer held."""
    lease = leases(svc)
    back: list[int] = []
    with svc.stores.meta.read() as conn:  # most of the time there is none: no write lock
        if not lease.find_expired(conn):
            return back
    with svc.stores.meta.write() as conn:
        for found in lease.find_expired(conn):
            check_job_transition(found.key, JobStatus.RUNNING, JobStatus.QUEUED)
            values = {**_FREED, "status": JobStatus.QUEUED.value, "not_before": svc.clock()}
            if lease.expire(conn, found, values):
                back.append(int(found.key))
    return back


def _running_per_trigger(conn: Connection) -> dict[int, int]:
    rows = conn.execute(
        sa.select(J.trigger_id, sa.func.count())
        .where(J.status == JobStatus.RUNNING.value)
        .group_by(J.trigger_id)
    )
    return {int(t): int(n) for t, n in rows}


def claim(svc: Context, holder: Holder, now: float) -> Job | None:
    """Take one queued job whose time has come and whose trigger runs fewer than its
    ``max_concurrent`` jobs; None if there is none."""
    ready = sa.select(J.id).where(J.status == JobStatus.QUEUED.value, J.not_before <= now)
    with svc.stores.meta.read() as conn:  # an idle worker polls without the write lock
        if conn.execute(ready.limit(1)).first() is None:
            return None
    with svc.stores.meta.write() as conn:
        query = (
            sa.select(J.id, J.trigger_id, triggers.c.spec)
            .join(triggers, triggers.c.id == J.trigger_id)
            .where(J.status == JobStatus.QUEUED.value, J.not_before <= now)
            .order_by(J.id)
            .limit(20)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=jobs)
        candidates = list(conn.execute(query))
        if not candidates:
            return None
        running = _running_per_trigger(conn)
        for job_id, trigger_id, spec in candidates:
            limit = int(spec.get("max_concurrent", 1))
            if running.get(trigger_id, 0) >= limit:
                continue
            if conn.dialect.name == "postgresql":
                # Claims of one trigger's jobs take turns, so two workers cannot both see
                # room for one more (SQLite's write transaction already serializes claims).
                conn.execute(
                    sa.select(triggers.c.id).where(triggers.c.id == trigger_id).with_for_update()
                )
                now_running = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(jobs)
                    .where(J.trigger_id == trigger_id, J.status == JobStatus.RUNNING.value)
                ).scalar_one()
                if now_running >= limit:
                    continue
            check_job_transition(job_id, JobStatus.QUEUED, JobStatus.RUNNING)
            done = conn.execute(
                jobs.update()
                .where(J.id == job_id, J.status == JobStatus.QUEUED.value)
                .values(
                    status=JobStatus.RUNNING.value,
                    attempts=J.attempts + 1,
                    started_at=now,
                    ended_at=None,
                    renewed_at=now,
                    lease_token=holder.token,
                    lease_host=holder.host,
                    lease_pid=holder.pid,
                    lease_scope=holder.scope,
                )
            )
            if done.rowcount == 1:
                return repo.get_job(conn, job_id)
    return None


class _Heartbeat:
    """Renews a job's lease every third of its ttl until stopped; says if the lease was lost."""

    def __init__(self, svc: Context, job_id: int, holder: Holder) -> None:
        self.svc, self.job_id, self.holder = svc, job_id, holder
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job_id}-lease", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cancelled(self) -> bool:
        """Whether the job is no longer ours to run: cancelled, or its lease taken over."""
        if self.lost:
            return True
        with self.svc.stores.meta.read() as conn:
            row = conn.execute(
                sa.select(J.status, J.lease_token).where(J.id == self.job_id)
            ).first()
        return (
            row is None
            or row.status != JobStatus.RUNNING.value
            or (row.lease_token != self.holder.token)
        )

    def _beat(self) -> None:
        lease = leases(self.svc)
        while not self._stop.wait(self.svc.lease_ttl_s / 3):
            try:
                with self.svc.stores.meta.write() as conn:
                    if lease.renew(conn, [self.job_id], self.holder):
                        self.lost = True
                        return
            except Exception:  # a failed beat is retried at the next one
                continue


def run_action(
    svc: Context, job: Job, cancelled: Callable[[], bool] | None = None
) -> tuple[bool, str | None, dict[str, Any], str | None]:
    """Run the job's action: (succeeded, run id, result, error). A pipeline asks
    ``cancelled`` once a second and stops when it says so."""
    if job.action == "run_production":
        p = dict(job.params)
        version = p.get("version")
        record = svc.deployments.deploy(
            p["name"],
            select=p.get("select", "best:accuracy")
            if version is None and "alias" not in p
            else None,
            version=None if version is None else int(version),
            alias=p.get("alias"),
            gate=p.get("gate"),
            to=p.get("to", "production"),
        )
        out = record.to_dict()
        ok = out.get("status") not in ("failed",)
        return ok, None, out, None if ok else str(out.get("reason"))
    if job.action == "monitor":
        deployment = job.params.get("deployment") or _alert_deployment(svc, job)
        result = svc.monitoring.run(deployment)
        from loopml.api.codec import to_builtins

        return True, None, {"monitor_result": to_builtins(result).get("id")}, None
    run = svc.pipelines.run(
        job.action, dict(job.params), executor=job.executor, cancelled=cancelled
    )
    ok = run.status.value == "succeeded"
    return ok, run.id, {"pipeline_status": run.status.value}, None if ok else run.error


def _alert_deployment(svc: Context, job: Job) -> str:
    from loopml.triggers.match import parse_on

    with svc.stores.meta.read() as conn:
        row = conn.execute(sa.select(triggers.c.spec).where(triggers.c.name == job.trigger)).one()
    return parse_on(row.spec["on"]).arg


def execute(svc: Context, job: Job, holder: Holder) -> Job:
    """Run a claimed job and record its outcome against the lease."""
    with _Heartbeat(svc, job.id, holder) as beat:
        try:
            ok, run_id, result, error = run_action(svc, job, beat.cancelled)
        except Cancelled as exc:  # cancelled while it ran: the release below records nothing
            ok, run_id, result, error = False, None, {}, str(exc)
        except Exception as exc:  # the job's failure is recorded, the worker goes on
            ok, run_id, result = False, None, {}
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
    now = svc.clock()
    with svc.stores.meta.write() as conn:
        spec = conn.execute(
            sa.select(triggers.c.spec)
            .join(jobs, J.trigger_id == triggers.c.id)
            .where(J.id == job.id)
        ).scalar_one()
        values: dict[str, Any] = {"run_id": run_id, "result": result, "error": error}
        if ok:
            new = JobStatus.SUCCEEDED
        elif job.attempts < job.max_attempts:
            new = JobStatus.QUEUED  # retried after a back-off that doubles each attempt
            backoff = float(spec.get("backoff_s", 5.0)) * 2 ** (job.attempts - 1)
            values.update(not_before=now + backoff)
        else:
            new = JobStatus.FAILED
        check_job_transition(job.id, JobStatus.RUNNING, new)
        values.update(status=new.value, ended_at=None if new == JobStatus.QUEUED else now)
        if new == JobStatus.QUEUED:
            values.update(_FREED)
        # Only if the lease is still ours: a job taken over (or cancelled) is not recorded twice.
        leases(svc).release(conn, job.id, holder, values)
        return repo.get_job(conn, job.id)


def work_one(svc: Context, now: float | None = None) -> Job | None:
    """Requeue lost jobs, claim one, run it; the job as recorded, or None if none was ready."""
    if requeue_lost(svc):
        svc.maintenance.reap_runs()  # the dead worker's pipeline run ends as lost
    holder = this_process(new_token())
    job = claim(svc, holder, svc.clock() if now is None else now)
    if job is None:
        return None
    return execute(svc, job, holder)
