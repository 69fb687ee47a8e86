"""Triggers and their job queue (the ``Triggers`` interface): add, list, show, enable,
disable, remove, fire by hand or by webhook, the firings; jobs: list, show, cancel; one
controller pass; and the three calls of a worker on another machine (claim a job under its
lease, renew the lease, record the outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from loopml.api.triggers import JobLease, JobOutcome, TriggerSpec
from loopml.connect import Services
from loopml.server.wire import (
    DEFAULT_PAGE,
    body_schema,
    json_response,
    page,
    page_of,
    read_json,
    services,
)

router = APIRouter(tags=["triggers"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]

MAX_WAIT_S = 20.0
JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@dataclass(frozen=True)
class NewTrigger:
    """Body of ``POST /triggers``."""

    spec: TriggerSpec
    enabled: bool = True


@dataclass(frozen=True)
class FireRequest:
    """Body of ``POST /triggers/{name}/fire``: ``key`` makes firing idempotent."""

    key: str | None = None


@dataclass(frozen=True)
class PollRequest:
    """Body of ``POST /triggers/poll``: at most ``limit`` events in this pass; ``wait`` > 0
    first waits up to that many seconds (at most 20) for an event."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000
    wait: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0


@dataclass(frozen=True)
class ClaimRequest:
    """Body of ``POST /jobs/claim``: the worker's lease, and the actions it can run (None:
    any)."""

    lease: JobLease
    actions: list[str] | None = None


@dataclass(frozen=True)
class FinishRequest:
    """Body of ``POST /jobs/{id}/finish``."""

    lease: JobLease
    outcome: JobOutcome


# ---------- triggers ----------
@router.get("/triggers")
def list_triggers(svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None) -> Response:
    return json_response(page(svc.triggers.list(), limit, page_token))


@router.post("/triggers", status_code=201, openapi_extra=body_schema(NewTrigger))
async def add_trigger(request: Request, svc: Svc) -> Response:
    """Store a trigger after checking everything it names (409 if the name is taken)."""
    body = await read_json(request, NewTrigger)
    return json_response(svc.triggers.add(body.spec, enabled=body.enabled), status=201)


@router.post("/triggers/poll", openapi_extra=body_schema(PollRequest))
async def poll(request: Request, svc: Svc) -> Response:
    """One controller pass on the server: ``{"fired": N}`` firings recorded."""
    body = await read_json(request, PollRequest)
    from starlette.concurrency import run_in_threadpool

    fired = await run_in_threadpool(svc.triggers.poll, body.limit, None, min(body.wait, MAX_WAIT_S))
    return json_response({"fired": fired})


@router.get("/triggers/{name}")
def get_trigger(name: str, svc: Svc) -> Response:
    return json_response(svc.triggers.get(name))


@router.delete("/triggers/{name}")
def remove_trigger(name: str, svc: Svc) -> Response:
    """Remove a trigger with its firings and jobs; ``{"jobs": N}`` removed with it."""
    return json_response({"jobs": svc.triggers.remove(name)})


@router.post("/triggers/{name}/enable")
def enable(name: str, svc: Svc) -> Response:
    return json_response(svc.triggers.set_enabled(name, True))


@router.post("/triggers/{name}/disable")
def disable(name: str, svc: Svc) -> Response:
    return json_response(svc.triggers.set_enabled(name, False))


@router.post("/triggers/{name}/fire", status_code=201, openapi_extra=body_schema(FireRequest))
async def fire(name: str, request: Request, svc: Svc) -> Response:
    """Fire now; the same ``key`` fires once."""
    body = await read_json(request, FireRequest)
    return json_response(svc.triggers.fire(name, body.key), status=201)


@router.post("/triggers/{name}/webhook", status_code=201, openapi_extra=body_schema(dict[str, Any]))
async def webhook(
    name: str,
    request: Request,
    svc: Svc,
    key: Annotated[
        str | None, Query(description="Idempotency key: the same key fires once.")
    ] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Fire a ``webhook`` trigger; the JSON object's fields feed its ``{event.FIELD}``
    templates. ``?key=`` or an ``Idempotency-Key`` header makes it fire once per key."""
    payload = await read_json(request, dict[str, Any])
    firing = svc.triggers.fire_webhook(name, payload, key or idempotency_key)
    return json_response(firing, status=201)


@router.get("/triggers/{name}/firings")
def list_firings(
    name: str, svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None
) -> Response:
    """The trigger's firings, newest first."""
    return json_response(page_of(lambda n: svc.triggers.firings(name, n), limit, page_token))


# ---------- jobs ----------
@router.get("/jobs")
def list_jobs(
    svc: Svc,
    status: str | None = None,
    trigger: str | None = None,
    limit: Limit = DEFAULT_PAGE,
    page_token: str | None = None,
) -> Response:
    """Jobs, newest first (of one status or trigger, when given)."""
    return json_response(
        page_of(lambda n: svc.triggers.jobs(status, trigger, n), limit, page_token)
    )


@router.post("/jobs/claim", openapi_extra=body_schema(ClaimRequest))
async def claim_job(request: Request, svc: Svc) -> Response:
    """``{"job": Job | null, "lease_ttl_s": S}``: one runnable job claimed for the lease's
    holder, which renews it every third of ``lease_ttl_s`` seconds."""
    body = await read_json(request, ClaimRequest)
    from starlette.concurrency import run_in_threadpool

    job = await run_in_threadpool(svc.triggers.claim_job, body.lease, body.actions)
    return json_response({"job": job, "lease_ttl_s": svc.triggers.lease_ttl_s})


@router.get("/jobs/{job_id}")
def get_job(job_id: JobId, svc: Svc) -> Response:
    return json_response(svc.triggers.job(job_id))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: JobId, svc: Svc) -> Response:
    return json_response(svc.triggers.cancel_job(job_id))


@router.post("/jobs/{job_id}/renew", openapi_extra=body_schema(JobLease))
async def renew_job(job_id: JobId, request: Request, svc: Svc) -> Response:
    """``{"held": bool}``: whether the lease still holds the job (false: stop, the outcome
    will not be recorded)."""
    lease = await read_json(request, JobLease)
    return json_response({"held": svc.triggers.renew_job(job_id, lease)})


@router.post("/jobs/{job_id}/finish", openapi_extra=body_schema(FinishRequest))
async def finish_job(job_id: JobId, request: Request, svc: Svc) -> Response:
    """Record the outcome of a claimed job (only while the lease holds it); the job."""
    body = await read_json(request, FinishRequest)
    return json_response(svc.triggers.finish_job(job_id, body.lease, body.outcome))
