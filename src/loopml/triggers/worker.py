"""One worker step: requeue jobs whose worker died, claim one runnable job under a lease, run
it with a heartbeat, and record the outcome only if the lease is still ours.

Claiming: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` (workers skip each other's rows);
on SQLite the write transaction (``BEGIN IMMEDIATE``) makes the claim a single writer's
compare-and-set update (``… WHERE status = 'queued'``). A job's lease is the one lease of
:mod:`loopml.meta.lease`: a worker whose pid is gone on this host lets go at once, one on
another host when its heartbeat is ``ttl`` old. A requeued job runs again; a pipeline reuses
the cached steps of the interrupted run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.triggers import Job, JobOutcome, JobStatus
from loopml.meta.lease import Holder, LeaseColumns, Leases, new_token, this_process
from loopml.meta.tables import jobs, triggers
from loopml.triggers import repository as repo
from loopml.triggers.actions import Heartbeat, run_action
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


def claim(
    svc: Context, holder: Holder, now: float, actions: Sequence[str] | None = None
) -> Job | None:
    """Take one queued job whose time has come and whose trigger runs fewer than its
    ``max_concurrent`` jobs (one of ``actions`` only, when given); None if there is none."""
    ready = sa.select(J.id).where(J.status == JobStatus.QUEUED.value, J.not_before <= now)
    if actions is not None:
        ready = ready.where(J.action.in_(list(actions)))
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
        if actions is not None:
            query = query.where(J.action.in_(list(actions)))
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


def renew(svc: Context, job_id: int, holder: Holder) -> bool:
    """Extend ``holder``'s lease on a running job; False once it no longer holds it."""
    with svc.stores.meta.write() as conn:
        return not leases(svc).renew(conn, [job_id], holder)


def still_ours(svc: Context, job_id: int, holder: Holder) -> bool:
    """Whether the job is still running under ``holder``'s lease (not cancelled, not taken
    over): a read, cheap enough to ask once a second."""
    with svc.stores.meta.read() as conn:
        row = conn.execute(sa.select(J.status, J.lease_token).where(J.id == job_id)).first()
    return (
        row is not None
        and row.status == JobStatus.RUNNING.value
        and row.lease_token == holder.token
    )


def record(svc: Context, job_id: int, holder: Holder, outcome: JobOutcome) -> Job:
    """Record a claimed job's outcome against the lease: succeeded, failed, or queued again
    for a retry. A job taken over (or cancelled) meanwhile is left as it is."""
    now = svc.clock()
    with svc.stores.meta.write() as conn:
        job = repo.get_job(conn, job_id)
        spec = conn.execute(
            sa.select(triggers.c.spec)
            .join(jobs, J.trigger_id == triggers.c.id)
            .where(J.id == job_id)
        ).scalar_one()
        values: dict[str, Any] = {
            "run_id": outcome.run_id,
            "result": dict(outcome.result),
            "error": outcome.error,
        }
        if job.status != JobStatus.RUNNING:
            return job  # cancelled or requeued meanwhile: the lease is no longer ours
        if outcome.ok:
            new = JobStatus.SUCCEEDED
        elif job.attempts < job.max_attempts:
            new = JobStatus.QUEUED  # retried after a back-off that doubles each attempt
            backoff = float(spec.get("backoff_s", 5.0)) * 2 ** (job.attempts - 1)
            values.update(not_before=now + backoff)
        else:
            new = JobStatus.FAILED
        check_job_transition(job_id, JobStatus.RUNNING, new)
        values.update(status=new.value, ended_at=None if new == JobStatus.QUEUED else now)
        if new == JobStatus.QUEUED:
            values.update(_FREED)
        # Only if the lease is still ours: a job taken over (or cancelled) is not recorded twice.
        leases(svc).release(conn, job_id, holder, values)
        return repo.get_job(conn, job_id)


def claim_next(
    svc: Context, holder: Holder, now: float | None = None, actions: Sequence[str] | None = None
) -> Job | None:
    """Requeue lost jobs, then claim one (of ``actions`` only, when given)."""
    if requeue_lost(svc):
        svc.maintenance.reap_runs()  # the dead worker's pipeline run ends as lost
    return claim(svc, holder, svc.clock() if now is None else now, actions)


def work_one(svc: Context, now: float | None = None) -> Job | None:
    """Requeue lost jobs, claim one, run it; the job as recorded, or None if none was ready."""
    holder = this_process(new_token())
    job = claim_next(svc, holder, now)
    if job is None:
        return None
    beat = Heartbeat(
        f"job-{job.id}-lease",
        svc.lease_ttl_s / 3,
        lambda: renew(svc, job.id, holder),
        lambda: still_ours(svc, job.id, holder),
    )
    with beat:
        outcome = run_action(svc, job, beat.cancelled)
    return record(svc, job.id, holder, outcome)
