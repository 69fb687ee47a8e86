"""Experiments and runs (the ``Runs`` interface): the lifecycle of a run, its params, tags,
inputs, metric batches, heartbeats, metric history and artifacts. Each route parses, calls the
service, serializes through the codec; searching runs is :mod:`loopml.server.routes.search`."""

from __future__ import annotations

import posixpath
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from loopml.api.runs import LogBatch, NewRun, RunStatus
from loopml.connect import Services
from loopml.server.errors import BodyTooLarge
from loopml.server.wire import (
    DEFAULT_PAGE,
    body_schema,
    immutable,
    json_response,
    page,
    read_json,
    services,
    url_path,
)

router = APIRouter(tags=["runs"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@dataclass(frozen=True)
class NewExperiment:
    """Body of ``POST /experiments``."""

    name: str


@dataclass(frozen=True)
class EndRun:
    """Body of ``POST /runs/{id}/end``: how the run ended (a traceback in ``error``)."""

    status: RunStatus = RunStatus.FINISHED
    error: str | None = None


@dataclass(frozen=True)
class Values:
    """Body of ``POST /runs/{id}/params`` and ``…/tags``: keys and their values as text."""

    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Input:
    """Body of ``POST /runs/{id}/inputs``: a dataset version the run read (``name@N``)."""

    dataset: str


@dataclass(frozen=True)
class Heartbeat:
    """Body of ``POST /runs/heartbeat``: the runs a client keeps alive."""

    run_ids: tuple[str, ...]


# ---------- experiments ----------
@router.get("/experiments")
def list_experiments(
    svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None
) -> Response:
    """Every experiment, oldest first, one page at a time."""
    return json_response(page(svc.runs.list_experiments(), limit, page_token))


@router.post("/experiments", status_code=201, openapi_extra=body_schema(NewExperiment))
async def create_experiment(request: Request, svc: Svc) -> Response:
    """Create an experiment (an existing name answers 409)."""
    body = await read_json(request, NewExperiment)
    return json_response(svc.runs.create_experiment(body.name), status=201)


@router.get("/experiments/{name}")
def get_experiment(name: str, svc: Svc) -> Response:
    return json_response(svc.runs.get_experiment(name))


# ---------- the lifecycle of a run ----------
@router.post("/runs", status_code=201, openapi_extra=body_schema(NewRun))
async def start_run(request: Request, svc: Svc) -> Response:
    """Record a new running run (its id is the client's); answers ``{"id"}``."""
    body = await read_json(request, NewRun)
    await run_in_threadpool(svc.runs.start_run, body)
    return json_response({"id": body.id}, status=201)


@router.post("/runs/batch", openapi_extra=body_schema(LogBatch))
async def log_batch(request: Request, svc: Svc) -> Response:
    """Params, tags and metric points of any runs in one transaction; answers ``{"late"}``:
    the params another writer gave first (kept with their first value)."""
    body = await read_json(request, LogBatch)
    late = await run_in_threadpool(svc.runs.log_batch, body)
    return json_response({"late": late})


@router.post("/runs/heartbeat", openapi_extra=body_schema(Heartbeat))
async def heartbeat(request: Request, svc: Svc) -> Response:
    """Keep running runs alive; answers the ones no longer running with their status."""
    body = await read_json(request, Heartbeat)
    return json_response(await run_in_threadpool(svc.runs.heartbeat, body.run_ids))


@router.get("/runs/{run_id}")
def get_run(run_id: str, svc: Svc) -> Response:
    """Everything about one run (``run_id`` may be a unique prefix of 4+ characters)."""
    return json_response(svc.runs.get_run(run_id))


@router.get("/runs/{run_id}/id")
def resolve_run_id(run_id: str, svc: Svc) -> Response:
    """The full id of the run named by an id or a unique prefix: ``{"id"}``."""
    return json_response({"id": svc.runs.resolve_run_id(run_id)})


@router.get("/runs/{run_id}/status")
def run_status(run_id: str, svc: Svc) -> Response:
    """The stored status of a run (its full id): ``{"id", "status"}``."""
    return json_response({"id": run_id, "status": svc.runs.run_status(run_id)})


@router.post("/runs/{run_id}/end", openapi_extra=body_schema(EndRun))
async def end_run(run_id: str, request: Request, svc: Svc) -> Response:
    """End a running run (409 if it has ended already): ``{"id", "status"}``."""
    body = await read_json(request, EndRun)
    await run_in_threadpool(svc.runs.end_run, run_id, body.status, body.error)
    return json_response({"id": run_id, "status": body.status})


# ---------- what a run records ----------
@router.post("/runs/{run_id}/params", openapi_extra=body_schema(Values))
async def log_params(run_id: str, request: Request, svc: Svc) -> Response:
    """Record params (a different value for a logged key is 409, and nothing is written)."""
    body = await read_json(request, Values)
    await run_in_threadpool(svc.runs.log_params, run_id, body.values)
    return json_response({"id": run_id})


@router.post("/runs/{run_id}/tags", openapi_extra=body_schema(Values))
async def set_tags(run_id: str, request: Request, svc: Svc) -> Response:
    """Set tags (a tag can change)."""
    body = await read_json(request, Values)
    await run_in_threadpool(svc.runs.set_tags, run_id, body.values)
    return json_response({"id": run_id})


@router.post("/runs/{run_id}/inputs", openapi_extra=body_schema(Input))
async def log_input(run_id: str, request: Request, svc: Svc) -> Response:
    """Record a dataset version the run read: ``{"input": "name@N"}``."""
    body = await read_json(request, Input)
    return json_response(
        {"input": await run_in_threadpool(svc.runs.log_input, run_id, body.dataset)}
    )


@router.get("/runs/{run_id}/metrics/{key:path}")
def metric_history(run_id: str, key: str, request: Request, svc: Svc) -> Response:
    """Every point of one metric, by step; once the run has ended the answer carries a strong
    ETag (a hash of the points, so even a late point makes a new one)."""
    full = svc.runs.resolve_run_id(run_id)
    ended = svc.runs.run_status(full).is_terminal  # read before the points: never stale
    points = svc.runs.metric_history(full, key)
    return immutable(request, points) if ended else json_response(points)


# ---------- artifacts ----------
@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def put_artifact(run_id: str, path: str, request: Request, svc: Svc) -> Response:
    """Store the body (``application/octet-stream``) as the artifact ``path`` of the run
    (a path stored again is replaced); answers the stored :class:`Artifact` list."""
    rel = url_path(path)
    limit: int = request.app.state.config.max_body_bytes
    folder, name = posixpath.split(rel)
    with tempfile.TemporaryDirectory(prefix="loopml-artifact-") as tmp:
        local = Path(tmp) / name
        size = 0
        with open(local, "wb") as out:
            async for data in request.stream():
                size += len(data)
                if size > limit:
                    raise BodyTooLarge(
                        f"the artifact is larger than the server's {limit}-byte limit",
                        field="body",
                    )
                out.write(data)
        stored = await run_in_threadpool(svc.runs.log_artifact, run_id, local, folder or None)
    return json_response(stored, status=201)


@router.get("/runs/{run_id}/artifacts/{path:path}")
def get_artifact(run_id: str, path: str, request: Request, svc: Svc) -> Response:
    """One artifact file, streamed as an attachment and verified as it is read."""
    artifact, data = svc.runs.open_artifact(run_id, url_path(path))
    tag = f'"{artifact.digest}"'
    headers: dict[str, Any] = {
        "ETag": tag,
        "X-Content-Type-Options": "nosniff",
        "X-Loopml-Digest": artifact.digest,
        "X-Loopml-Path": quote(artifact.path),
        "Cache-Control": "private, max-age=0, must-revalidate",
    }
    if tag in request.headers.get("if-none-match", ""):
        close = getattr(data, "close", None)
        if close is not None:
            close()
        return Response(status_code=304, headers=headers)
    filename = quote(posixpath.basename(artifact.path))
    headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    headers["Content-Length"] = str(artifact.size)
    return StreamingResponse(data, media_type="application/octet-stream", headers=headers)
