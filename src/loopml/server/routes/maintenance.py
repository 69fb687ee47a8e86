"""Checking and cleaning the stores, and ending what died (the ``Maintenance`` interface):
fsck, gc, and reaping lost runs and orphaned pipeline runs. These run on the server, over its
stores; each can take a while, so it runs in the threadpool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from loopml.connect import Services
from loopml.server.wire import body_schema, json_response, read_json, services

router = APIRouter(tags=["maintenance"])

Svc = Annotated[Services, Depends(services)]


@dataclass(frozen=True)
class GcRequest:
    """Body of ``POST /maintenance/gc``: ``grace_s`` None keeps the store's default grace for
    unreferenced objects; ``dry_run`` says what would go without removing it."""

    grace_s: float | None = None
    dry_run: bool = False


@router.post("/maintenance/fsck")
async def fsck(svc: Svc) -> Response:
    """Verify every stored chunk and what references it; the summary lists the problems."""
    return json_response(await run_in_threadpool(svc.maintenance.fsck))


@router.post("/maintenance/gc", openapi_extra=body_schema(GcRequest))
async def gc(request: Request, svc: Svc) -> Response:
    body = await read_json(request, GcRequest)
    if body.grace_s is None:
        summary = await run_in_threadpool(lambda: svc.maintenance.gc(dry_run=body.dry_run))
    else:
        grace = body.grace_s
        summary = await run_in_threadpool(lambda: svc.maintenance.gc(grace, body.dry_run))
    return json_response(summary)


@router.post("/maintenance/reap")
async def reap(svc: Svc) -> Response:
    """End runs whose holder died (``runs``) and pipeline runs left running by a dead
    process (``pipelines``)."""
    runs = await run_in_threadpool(svc.maintenance.reap_runs)
    pipelines = await run_in_threadpool(svc.maintenance.reap_pipelines)
    return json_response({"runs": runs, "pipelines": pipelines})


@router.post("/maintenance/reap/runs")
async def reap_runs(svc: Svc) -> Response:
    """``{"runs": [LostRun]}``: the runs ended as lost."""
    return json_response({"runs": await run_in_threadpool(svc.maintenance.reap_runs)})


@router.post("/maintenance/reap/pipelines")
async def reap_pipelines(svc: Svc) -> Response:
    """``{"pipelines": [id]}``: the pipeline runs ended as failed."""
    return json_response({"pipelines": await run_in_threadpool(svc.maintenance.reap_pipelines)})
