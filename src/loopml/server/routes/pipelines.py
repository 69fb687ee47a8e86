"""Pipeline runs (the ``Pipelines`` interface). The read side: the runs, one run with its
steps, one step's captured output. The recording side, for runs that execute on a client (its
process and its executor's workers run the steps; the rows, the step cache and the outputs live
here): start and end a run, move, fail, cache and complete its steps, and find stored output
files. Output bytes travel as chunks through ``POST /chunks/missing``, ``POST /chunks`` and
``POST /chunks/get``; completing a step records its files from their chunk lists."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from loopml.api.pipelines import (
    CachedStep,
    FileDigests,
    Reason,
    RunEnd,
    RunStart,
    StepDone,
    StepMove,
)
from loopml.connect import Services
from loopml.core.errors import InvalidInput
from loopml.pipelines.records import ChunkedFiles, StoredRecords, check_fields
from loopml.server.wire import (
    DEFAULT_PAGE,
    body_schema,
    json_response,
    page_of,
    read_json,
    services,
)

router = APIRouter(tags=["pipelines"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]
MAX_DIGESTS = 10_000


def _records(svc: Services) -> StoredRecords:
    """The recording side over the server's own stores, where its pipelines service records
    the runs it executes (a few attribute sets: built per request, never closed here)."""
    return StoredRecords(svc.stores)


@router.get("/pipelines/runs")
def list_runs(
    svc: Svc,
    pipeline: str | None = None,
    limit: Limit = DEFAULT_PAGE,
    page_token: str | None = None,
) -> Response:
    """Pipeline runs, newest first (of one pipeline, when given)."""
    return json_response(page_of(lambda n: svc.pipelines.list_runs(pipeline, n), limit, page_token))


@router.get("/pipelines/runs/{run_id}")
def get_run(run_id: str, svc: Svc) -> Response:
    """One run with its steps and their outputs (``run_id`` may be a unique prefix)."""
    return json_response(svc.pipelines.get_run(run_id))


@router.get("/pipelines/runs/{run_id}/steps/{step}/log")
def step_log(run_id: str, step: str, svc: Svc) -> Response:
    """``{"stdout", "stderr", "error"}`` captured from one step."""
    found = svc.pipelines.get_run(run_id).step(step)
    return json_response({"stdout": found.stdout, "stderr": found.stderr, "error": found.error})


# ---------- recording a run that executes on the client ----------
@router.post("/pipelines/runs", status_code=201, openapi_extra=body_schema(RunStart))
async def start_run(request: Request, svc: Svc) -> Response:
    """Record a run that starts (its id is its tracked run's), its steps pending."""
    body = await read_json(request, RunStart)
    records = _records(svc)
    await run_in_threadpool(records.start_run, body.run, list(body.steps))
    return json_response(await run_in_threadpool(records.get_run, str(body.run["id"])), 201)


@router.post("/pipelines/runs/{run_id}/end", openapi_extra=body_schema(RunEnd))
async def end_run(run_id: str, request: Request, svc: Svc) -> Response:
    """End a running run as succeeded or failed."""
    body = await read_json(request, RunEnd)
    await run_in_threadpool(_records(svc).end_run, run_id, body.status, body.error)
    return json_response({"id": run_id, "status": body.status})


@router.post("/pipelines/runs/{run_id}/abort", openapi_extra=body_schema(Reason))
async def abort_run(run_id: str, request: Request, svc: Svc) -> Response:
    """Fail every step of the run that has not ended (its coordinator stops)."""
    body = await read_json(request, Reason)
    await run_in_threadpool(_records(svc).abort, run_id, body.reason)
    return json_response({"id": run_id})


@router.post("/pipelines/runs/{run_id}/steps/{step}/move", openapi_extra=body_schema(StepMove))
async def move_step(run_id: str, step: str, request: Request, svc: Svc) -> Response:
    """Move a step to its next status (409 for a move its current status forbids)."""
    body = await read_json(request, StepMove)
    check_fields(body.fields)
    await run_in_threadpool(_records(svc).move_step, run_id, step, body.status, **body.fields)
    return json_response({"step": step, "status": body.status})


@router.post("/pipelines/runs/{run_id}/steps/{step}/fail", openapi_extra=body_schema(Reason))
async def fail_step(run_id: str, step: str, request: Request, svc: Svc) -> Response:
    """Fail a step that has not ended; answers the status it had."""
    body = await read_json(request, Reason)
    before = await run_in_threadpool(_records(svc).fail_step, run_id, step, body.reason)
    return json_response({"step": step, "status": before})


@router.post("/pipelines/runs/{run_id}/steps/{step}/cached", openapi_extra=body_schema(CachedStep))
async def take_cached(run_id: str, step: str, request: Request, svc: Svc) -> Response:
    """Record a step as taken from the cache, with the stored outputs it reuses."""
    body = await read_json(request, CachedStep)
    await run_in_threadpool(_records(svc).take_cached, run_id, step, body.key, body.source)
    return json_response({"step": step, "status": "cached"})


@router.post("/pipelines/runs/{run_id}/steps/{step}/complete", openapi_extra=body_schema(StepDone))
async def complete_step(run_id: str, step: str, request: Request, svc: Svc) -> Response:
    """A step's success with its outputs, in one transaction; the chunks of new output files
    must be stored first (409 names one that is not)."""
    body = await read_json(request, StepDone)
    check_fields(body.fields)
    staged = ChunkedFiles.from_wire(body.files)
    await run_in_threadpool(
        _records(svc).complete_step, run_id, step, staged, list(body.outputs), **body.fields
    )
    return json_response({"step": step, "status": "succeeded"})


@router.get("/pipelines/cache/{key}")
def cache_candidates(key: str, svc: Svc) -> Response:
    """The newest finished steps stored under a cache key, best first."""
    return json_response(_records(svc).cache_candidates(key))


@router.post("/pipelines/files", openapi_extra=body_schema(FileDigests))
async def stored_files(request: Request, svc: Svc) -> Response:
    """The chunk lists of the output files asked for that are stored whole, and the others."""
    body = await read_json(request, FileDigests)
    if len(body.digests) > MAX_DIGESTS:
        raise InvalidInput(f"{len(body.digests)} digests; send at most {MAX_DIGESTS} at a time")
    return json_response(await run_in_threadpool(_records(svc).stored_files, body.digests))
