"""``Triggers`` over HTTP.

``poll()`` asks the server for one controller pass (the controller's cursor and the firings
live beside the events). ``work()`` is a worker on this machine: it claims a job over HTTP
under a lease of this process, renews the lease over HTTP while it runs the job's action here
through the remote services, and sends the outcome back. Every action is claimed: a pipeline
job runs its steps on this machine and records the run through the server, like
``loopml pipeline run`` with ``LOOPML_URI`` (its ``FILE.py`` must exist at the same path here)."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loopml.api import codec
from loopml.api.protocols import Deployments, Monitoring, Pipelines
from loopml.api.triggers import Firing, Job, JobLease, JobOutcome, JobStatus, Trigger, TriggerSpec
from loopml.client.http import Http
from loopml.core.errors import InvalidInput


class RemoteTriggers:
    def __init__(self, http: Http, services: Any) -> None:
        self.http = http
        self._services = services
        self.lease_ttl_s = 30.0  # the server's, learnt at each claim

    # what a job's action acts through: the remote services
    @property
    def pipelines(self) -> Pipelines:
        found: Pipelines = self._services.pipelines
        return found

    @property
    def deployments(self) -> Deployments:
        found: Deployments = self._services.deployments
        return found

    @property
    def monitoring(self) -> Monitoring:
        found: Monitoring = self._services.monitoring
        return found

    # ---------- triggers ----------
    def add(self, spec: TriggerSpec, enabled: bool = True) -> Trigger:
        """Add a trigger; a pipeline file named relative to this directory is sent as an
        absolute path (the server checks it exists where its worker runs)."""
        location, sep, func = spec.action.rpartition(":")
        if sep and (location.endswith(".py") or "/" in location):
            spec = dataclasses.replace(
                spec, action=f"{Path(location).expanduser().absolute()}:{func}"
            )
        return self.http.send("POST", "/triggers", {"spec": spec, "enabled": enabled}, Trigger)

    def list(self) -> builtins.list[Trigger]:
        return builtins.list(self.http.pages("/triggers", Trigger))

    def get(self, name: str) -> Trigger:
        return self.http.get(f"/triggers/{_seg(name)}", Trigger)

    def set_enabled(self, name: str, enabled: bool) -> Trigger:
        verb = "enable" if enabled else "disable"
        return self.http.send("POST", f"/triggers/{_seg(name)}/{verb}", {}, Trigger)

    def remove(self, name: str) -> int:
        return int(self.http.request("DELETE", f"/triggers/{_seg(name)}").json()["jobs"])

    def firings(self, name: str, limit: int = 100) -> builtins.list[Firing]:
        _positive(limit)
        return builtins.list(self.http.pages(f"/triggers/{_seg(name)}/firings", Firing, most=limit))

    def fire(self, name: str, key: str | None = None) -> Firing:
        return self.http.send("POST", f"/triggers/{_seg(name)}/fire", {"key": key}, Firing)

    def fire_webhook(
        self, name: str, payload: Mapping[str, Any] | None = None, key: str | None = None
    ) -> Firing:
        params = {} if key is None else {"key": key}
        response = self.http.request(
            "POST", f"/triggers/{_seg(name)}/webhook", params=params, json=dict(payload or {})
        )
        return codec.decode(response.content, Firing)

    # ---------- the queue ----------
    def jobs(
        self, status: JobStatus | str | None = None, trigger: str | None = None, limit: int = 100
    ) -> builtins.list[Job]:
        _positive(limit)
        params: dict[str, Any] = {}
        if status is not None:
            params["status"] = str(getattr(status, "value", status))
        if trigger is not None:
            params["trigger"] = trigger
        return builtins.list(self.http.pages("/jobs", Job, params, most=limit))

    def job(self, job_id: int) -> Job:
        return self.http.get(f"/jobs/{int(job_id)}", Job)

    def cancel_job(self, job_id: int) -> Job:
        return self.http.send("POST", f"/jobs/{int(job_id)}/cancel", {}, Job)

    # ---------- the loop ----------
    def poll(self, limit: int = 1000, now: float | None = None, wait: float = 0.0) -> int:
        """One controller pass on the server (``wait``: it first waits, there, up to that
        many seconds for an event)."""
        if now is not None:
            raise InvalidInput("a controller pass over a server runs on the server's clock")
        body = {"limit": limit, "wait": wait}
        answer = self.http.request("POST", "/triggers/poll", json=body, timeout=wait + 60.0)
        return int(answer.json()["fired"])

    def claim_job(
        self, lease: JobLease, actions: Sequence[str] | None = None, now: float | None = None
    ) -> Job | None:
        if now is not None:
            raise InvalidInput("a job is claimed over a server on the server's clock")
        body = {"lease": lease, "actions": None if actions is None else builtins.list(actions)}
        answer = self.http.send("POST", "/jobs/claim", body, dict[str, Any])
        self.lease_ttl_s = float(answer["lease_ttl_s"])
        return None if answer["job"] is None else codec.from_builtins(answer["job"], Job)

    def renew_job(self, job_id: int, lease: JobLease) -> bool:
        answer = self.http.send("POST", f"/jobs/{int(job_id)}/renew", lease, dict[str, Any])
        return bool(answer["held"])

    def finish_job(self, job_id: int, lease: JobLease, outcome: JobOutcome) -> Job:
        body = {"lease": lease, "outcome": outcome}
        return self.http.send("POST", f"/jobs/{int(job_id)}/finish", body, Job)

    def work(self, now: float | None = None) -> Job | None:
        """Claim one job with a built-in action, run it here, record its outcome; None if
        none was ready."""
        import uuid

        from loopml.core.process import this_process
        from loopml.triggers.actions import Heartbeat, run_action

        me = this_process()
        lease = JobLease(me.host, me.pid, me.scope, uuid.uuid4().hex)
        job = self.claim_job(lease, None, now)
        if job is None:
            return None
        renew = lambda: self.renew_job(job.id, lease)  # noqa: E731
        with Heartbeat(f"job-{job.id}-lease", self.lease_ttl_s / 3, renew) as beat:
            outcome = run_action(self, job, beat.cancelled)
        return self.finish_job(job.id, lease, outcome)


def _seg(name: str) -> str:
    """A name as one path segment (a ``/`` in it cannot reach another route)."""
    return quote(name, safe="@")


def _positive(limit: int) -> None:
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}")


def build(http: Http, services: Any) -> RemoteTriggers:
    return RemoteTriggers(http, services)
