"""Running a claimed job's action and keeping its lease alive: the part of a worker step that
runs where the worker is (beside the stores, or on another machine through a server). No
database access here: the action goes through the service interfaces, the lease through a
``renew`` callable."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from loopml.api.protocols import Deployments, Monitoring, Pipelines
from loopml.api.triggers import Job, JobOutcome, Trigger
from loopml.core.errors import Cancelled


class ActionContext(Protocol):
    """What an action reaches: the services it acts through and the trigger of a job."""

    @property
    def pipelines(self) -> Pipelines: ...

    @property
    def deployments(self) -> Deployments: ...

    @property
    def monitoring(self) -> Monitoring: ...

    def get(self, name: str) -> Trigger: ...


class Heartbeat:
    """Calls ``renew`` every ``every_s`` seconds until stopped; ``renew`` returns False once
    the lease is lost (taken over or cancelled), which ends the beats and sets ``lost``.
    ``held``, when given, says at any moment whether the job is still ours to run."""

    def __init__(
        self,
        name: str,
        every_s: float,
        renew: Callable[[], bool],
        held: Callable[[], bool] | None = None,
    ) -> None:
        self.every_s = every_s
        self.renew = renew
        self.held = held
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cancelled(self) -> bool:
        """Whether the job is no longer ours to run: cancelled, or its lease taken over."""
        return self.lost or (self.held is not None and not self.held())

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if not self.renew():
                    self.lost = True
                    return
            except Exception:  # a failed beat is retried at the next one
                continue


def run_action(
    svc: ActionContext, job: Job, cancelled: Callable[[], bool] | None = None
) -> JobOutcome:
    """Run the job's action; a failure is the outcome's error, never raised. A pipeline asks
    ``cancelled`` once a second and stops when it says so."""
    try:
        return _run(svc, job, cancelled)
    except Cancelled as exc:  # cancelled while it ran: recording it will write nothing
        return JobOutcome(ok=False, error=str(exc))
    except Exception as exc:  # the job's failure is recorded, the worker goes on
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        return JobOutcome(ok=False, error=error)


def _run(svc: ActionContext, job: Job, cancelled: Callable[[], bool] | None) -> JobOutcome:
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
        out: dict[str, Any] = record.to_dict()
        ok = out.get("status") not in ("failed",)
        return JobOutcome(ok, None, out, None if ok else str(out.get("reason")))
    if job.action == "monitor":
        deployment = job.params.get("deployment") or _alert_deployment(svc, job)
        result = svc.monitoring.run(deployment)
        return JobOutcome(True, None, {"monitor_result": result.id}, None)
    run = svc.pipelines.run(
        job.action, dict(job.params), executor=job.executor, cancelled=cancelled
    )
    ok = run.status.value == "succeeded"
    return JobOutcome(ok, run.id, {"pipeline_status": run.status.value}, None if ok else run.error)


def _alert_deployment(svc: ActionContext, job: Job) -> str:
    from loopml.triggers.match import parse_on

    return parse_on(svc.get(job.trigger).spec.on).arg
