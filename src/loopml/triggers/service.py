"""Triggers: add (validated against what they name), list, show, enable, disable, remove, fire
by hand or by webhook; the queue of jobs; one controller pass and one worker step.

The service reaches the other blocks only through the interfaces the factory gives it."""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from loopml.api.events import EventReader
from loopml.api.protocols import (
    Datasets,
    Deployments,
    Maintenance,
    Models,
    Monitoring,
    Pipelines,
)
from loopml.api.triggers import (
    Catchup,
    Firing,
    Job,
    JobLease,
    JobOutcome,
    JobStatus,
    Trigger,
    TriggerSpec,
)
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.identity import whoami
from loopml.core.names import validate_name
from loopml.meta.lease import Holder
from loopml.meta.tables import firings, jobs, triggers
from loopml.stores import Stores
from loopml.triggers import gitpoll
from loopml.triggers import repository as repo
from loopml.triggers.controller import poll
from loopml.triggers.lifecycle import check_job_transition
from loopml.triggers.match import Source, check_templates, fill, parse_on
from loopml.triggers.schedule import check_cron
from loopml.triggers.worker import claim_next, record, renew, work_one

BUILTIN_ACTIONS = ("run_production", "monitor")
MAX_RETRIES = 1000
MAX_CONCURRENT = 10_000
EXECUTORS = ("local", "ray")


class TriggerService:
    """Triggers and their job queue in one metadata database."""

    def __init__(
        self,
        stores: Stores,
        *,
        events: EventReader,
        datasets: Datasets,
        models: Models,
        pipelines: Pipelines,
        deployments: Deployments,
        monitoring: Monitoring,
        maintenance: Maintenance,
        clock: Callable[[], float] = time.time,
        lease_ttl_s: float = 30.0,
    ) -> None:
        self.stores = stores
        self.events = events
        self.datasets = datasets
        self.models = models
        self.pipelines = pipelines
        self.deployments = deployments
        self.monitoring = monitoring
        self.maintenance = maintenance
        self.clock = clock
        self.lease_ttl_s = lease_ttl_s

    # ---------- triggers ----------
    def add(self, spec: TriggerSpec, enabled: bool = True) -> Trigger:
        """Store a new trigger after checking everything it names; it reacts to events
        appended from now on (``enabled`` False: once enabled)."""
        spec = self._checked(spec)
        source = parse_on(spec.on)
        state: dict[str, Any] = {}
        now = self.clock()
        if source.kind == "schedule":
            state["last_tick"] = now
        if source.kind == "code":
            state["commit"] = gitpoll.head_commit(source.arg, source.branch)
        after = self.events.latest_cursor()
        with self.stores.meta.write() as conn:
            taken = conn.execute(sa.select(triggers.c.id).where(triggers.c.name == spec.name))
            if taken.first() is not None:
                raise Conflict(
                    f"a trigger named {spec.name!r} exists; remove it first with: "
                    f"loopml trigger remove {spec.name}"
                )
            conn.execute(
                triggers.insert().values(
                    name=spec.name,
                    spec=repo.spec_json(spec),
                    enabled=enabled,
                    after_event=after,
                    state=state,
                    created_at=now,
                    created_by=whoami(),
                )
            )
            return repo.to_trigger(repo.get_row(conn, spec.name))

    def _checked(self, spec: TriggerSpec) -> TriggerSpec:
        validate_name(spec.name, "trigger name")
        source = parse_on(spec.on)
        if spec.executor not in EXECUTORS:
            raise InvalidInput(f"executor {spec.executor!r} is not one of local, ray")
        for label, value in (("cooldown", spec.cooldown_s), ("backoff", spec.backoff_s)):
            if not value >= 0:
                raise InvalidInput(f"{label} must be a number of seconds >= 0, got {value!r}")
        if not 1 <= spec.max_concurrent <= MAX_CONCURRENT:
            raise InvalidInput(
                f"max concurrent must be from 1 to {MAX_CONCURRENT}, got {spec.max_concurrent}"
            )
        if not 0 <= spec.retries <= MAX_RETRIES:
            raise InvalidInput(f"retries must be from 0 to {MAX_RETRIES}, got {spec.retries}")
        catchup = Catchup(spec.catchup) if spec.catchup in set(Catchup) else None
        if catchup is None:
            raise InvalidInput(f"catch-up {spec.catchup!r} is not one of skip, once")
        self._check_source(source, spec.tz)
        check_templates(source, spec.params)
        action = self._check_action(spec.action, spec.params, source)
        return TriggerSpec(
            name=spec.name,
            on=spec.on.strip(),
            action=action,
            params=dict(spec.params),
            executor=spec.executor,
            tz=spec.tz,
            cooldown_s=float(spec.cooldown_s),
            max_concurrent=spec.max_concurrent,
            retries=spec.retries,
            backoff_s=float(spec.backoff_s),
            catchup=catchup,
        )

    def _check_source(self, source: Source, tz: str) -> None:
        if source.kind == "dataset":
            if not self.datasets.versions(source.arg):
                raise NotFound(f"no dataset named {source.arg!r}; list them: loopml datasets list")
        elif source.kind == "model":
            if not self.models.versions(source.arg):
                raise NotFound(f"no model named {source.arg!r}; list them: loopml models list")
        elif source.kind == "alert":
            try:
                self.models.show(source.arg)
            except NotFound as exc:
                raise NotFound(
                    f"alert trigger: no deployment {source.arg!r} ({exc}); name a deployed "
                    "model alias such as churn@production"
                ) from None
        elif source.kind == "schedule":
            check_cron(source.arg, tz)
        elif source.kind == "code":
            gitpoll.head_commit(source.arg, source.branch)

    def _check_action(self, action: str, params: Mapping[str, str], source: Source) -> str:
        if action == "run_production":
            if "name" not in params:
                raise InvalidInput(
                    "run_production needs the model to deploy: -p name=MODEL "
                    "(and optionally -p select=best:METRIC -p gate=EXPR -p to=ALIAS)"
                )
            return action
        if action == "monitor":
            if "deployment" not in params and source.kind != "alert":
                raise InvalidInput("the monitor action needs -p deployment=MODEL@ALIAS")
            return action
        location, sep, func = action.rpartition(":")
        if not sep or not location or not func:
            raise InvalidInput(
                f"action {action!r} is not FILE.py:FUNCTION, module:FUNCTION, run_production "
                "or monitor; write e.g. --run training.py:training"
            )
        if location.endswith(".py") or "/" in location:
            path = Path(location).expanduser()
            if not path.is_file():
                raise InvalidInput(f"pipeline file {location!r} does not exist")
            # Workers may run elsewhere in the file tree: keep the absolute path.
            return f"{path.resolve()}:{func}"
        return action

    def list(self) -> builtins.list[Trigger]:
        with self.stores.meta.read() as conn:
            return [repo.to_trigger(r) for r in repo.list_rows(conn)]

    def get(self, name: str) -> Trigger:
        with self.stores.meta.read() as conn:
            return repo.to_trigger(repo.get_row(conn, name))

    def set_enabled(self, name: str, enabled: bool) -> Trigger:
        """Enable or disable ``name``. Enabled again, it reacts to what happens from then on
        (not to the events, ticks or commits of while it was disabled)."""
        after = self.events.latest_cursor() if enabled else None
        with self.stores.meta.write() as conn:
            row = repo.get_row(conn, name, lock=True)
            values: dict[str, Any] = {"enabled": enabled}
            if enabled and not row.enabled:
                values["after_event"] = max(int(row.after_event), after or 0)
                source = parse_on(row.spec["on"])
                state = dict(row.state or {})
                if source.kind == "schedule":
                    state["last_tick"] = self.clock()
                elif source.kind == "code":
                    state["commit"] = gitpoll.head_commit(source.arg, source.branch)
                values["state"] = state
            conn.execute(triggers.update().where(triggers.c.id == row.id).values(**values))
            return repo.to_trigger(repo.get_row(conn, name))

    def remove(self, name: str) -> int:
        """Remove a trigger, its firings and its jobs (refused while one of them runs);
        returns how many jobs went with it."""
        with self.stores.meta.write() as conn:
            row = repo.get_row(conn, name, lock=True)
            running = conn.execute(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.trigger_id == row.id, jobs.c.status == JobStatus.RUNNING.value)
            ).scalar_one()
            if running:
                raise Conflict(
                    f"trigger {name!r} has {running} running job(s); cancel them first with: "
                    "loopml jobs cancel ID"
                )
            gone = conn.execute(jobs.delete().where(jobs.c.trigger_id == row.id)).rowcount
            conn.execute(firings.delete().where(firings.c.trigger_id == row.id))
            conn.execute(triggers.delete().where(triggers.c.id == row.id))
            return int(gone)

    def firings(self, name: str, limit: int = 100) -> builtins.list[Firing]:
        with self.stores.meta.read() as conn:
            row = repo.get_row(conn, name)
            return repo.list_firings(conn, row.id, name, limit)

    # ---------- firing by hand ----------
    def fire(self, name: str, key: str | None = None) -> Firing:
        """Fire ``name`` now (manual); ``key`` makes it idempotent (the same key fires once)."""
        return self._fire_direct(name, f"manual:{key or uuid.uuid4().hex}", {})

    def fire_webhook(
        self, name: str, payload: Mapping[str, Any] | None = None, key: str | None = None
    ) -> Firing:
        """Fire a ``webhook`` trigger with ``payload`` (its fields feed the templates)."""
        trigger = self.get(name)
        if parse_on(trigger.spec.on).kind != "webhook":
            raise InvalidInput(f"trigger {name!r} is not a webhook trigger ({trigger.spec.on})")
        return self._fire_direct(name, f"webhook:{key or uuid.uuid4().hex}", dict(payload or {}))

    def _fire_direct(self, name: str, event_key: str, fields: dict[str, Any]) -> Firing:
        now = self.clock()
        event = {"key": event_key.partition(":")[2], **fields}
        with self.stores.meta.write() as conn:
            trigger = repo.to_trigger(repo.get_row(conn, name, lock=True))
            if not trigger.enabled:
                raise Conflict(
                    f"trigger {name!r} is disabled; enable it first with: "
                    f"loopml trigger enable {name}"
                )
            params = fill(trigger.spec.params, event)
            repo.insert_firing(conn, trigger, event_key, event, params, now)
            found = [f for f in repo.list_firings(conn, trigger.id, name, 50)]
        for f in found:
            if f.event_key == event_key[:200]:
                return f
        raise NotFound(f"firing {event_key!r} of trigger {name!r} vanished")  # pragma: no cover

    # ---------- the queue ----------
    def jobs(
        self,
        status: JobStatus | str | None = None,
        trigger: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Job]:
        wanted = None if status is None else _status(status)
        with self.stores.meta.read() as conn:
            return repo.list_jobs(conn, wanted, trigger, limit)

    def job(self, job_id: int) -> Job:
        with self.stores.meta.read() as conn:
            return repo.get_job(conn, job_id)

    def cancel_job(self, job_id: int) -> Job:
        """Cancel a queued or running job (a running one's worker then records nothing)."""
        with self.stores.meta.write() as conn:
            job = repo.get_job(conn, job_id)
            check_job_transition(job_id, job.status, JobStatus.CANCELLED)
            done = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == job.status.value)
                .values(status=JobStatus.CANCELLED.value, ended_at=self.clock())
            )
            if done.rowcount != 1:
                raise Conflict(f"job {job_id} changed meanwhile; look again: loopml jobs show")
            return repo.get_job(conn, job_id)

    # ---------- the loop ----------
    def poll(self, limit: int = 1000, now: float | None = None, wait: float = 0.0) -> int:
        """One controller pass: events after the shared cursor, due schedule ticks and new
        commits; returns how many firings it recorded. ``now`` replaces the clock."""
        return poll(self, limit, self.clock() if now is None else now, wait)

    def work(self, now: float | None = None) -> Job | None:
        """Claim one runnable job, run it under a lease and record its outcome; None if
        nothing was runnable."""
        return work_one(self, now)

    # ---------- a worker elsewhere: claim, renew, finish ----------
    def claim_job(
        self, lease: JobLease, actions: Sequence[str] | None = None, now: float | None = None
    ) -> Job | None:
        """Requeue jobs whose worker died, then claim one runnable job (of ``actions`` only,
        when given) for ``lease``'s holder; None if none is runnable. The holder renews the
        lease every third of :attr:`lease_ttl_s` and records the outcome with
        :meth:`finish_job`."""
        return claim_next(self, _holder(lease), now, actions)

    def renew_job(self, job_id: int, lease: JobLease) -> bool:
        """Extend the lease on a running job; False once ``lease`` no longer holds it (the
        job was cancelled or taken over: its outcome will not be recorded)."""
        return renew(self, job_id, _holder(lease))

    def finish_job(self, job_id: int, lease: JobLease, outcome: JobOutcome) -> Job:
        """Record a claimed job's outcome if ``lease`` still holds it; the job as stored."""
        if not isinstance(outcome.result, dict):
            raise InvalidInput("a job's result is a JSON object")
        if outcome.run_id is not None and not 0 < len(outcome.run_id) <= 64:
            raise InvalidInput("a job's run id is 1-64 characters")
        return record(self, job_id, _holder(lease), outcome)


def _holder(lease: JobLease) -> Holder:
    if not lease.token or len(lease.token) > 64 or not lease.host or len(lease.host) > 255:
        raise InvalidInput(
            "a job lease needs a token (1-64 characters) and the worker's host name "
            "(1-255 characters)"
        )
    if not 0 < lease.pid < 2**31 or (lease.scope is not None and len(lease.scope) > 64):
        raise InvalidInput(
            "a job lease names the worker's pid (> 0) and a scope of <= 64 characters"
        )
    return Holder(lease.host, lease.pid, lease.scope, lease.token)


def _status(value: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:
        raise InvalidInput(
            f"job status {value!r} is not one of {', '.join(s.value for s in JobStatus)}"
        ) from None
