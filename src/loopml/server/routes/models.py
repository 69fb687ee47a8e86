"""The model registry (the ``Models`` interface). A remote register uploads its files' chunks
through the chunk routes of :mod:`loopml.server.routes.datasets`, then ``POST
/models/{name}/versions`` commits them; a remote load reads ``…/files/{path}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from loopml.api.frames import MEDIA_TYPE
from loopml.api.models import ModelUpload
from loopml.connect import Services
from loopml.server.routes.datasets import attachment
from loopml.server.wire import (
    DEFAULT_PAGE,
    body_schema,
    immutable,
    json_response,
    page,
    read_json,
    services,
)

router = APIRouter(tags=["models"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Number = Annotated[int, Path(ge=1, le=2**31)]


@dataclass(frozen=True)
class AliasTarget:
    """Body of ``PUT /models/{name}/aliases/{alias}``: the version the alias points at."""

    version: int | str


@router.get("/models")
def list_models(svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None) -> Response:
    """Every model with its latest version and aliases, one page at a time."""
    return json_response(page(svc.models.list(), limit, page_token))


@router.get("/models/resolve")
def resolve(ref: Annotated[str, Query(max_length=300)], svc: Svc) -> Response:
    """The version ``ref`` names: ``NAME`` (latest), ``NAME@N`` or ``NAME@ALIAS``."""
    return json_response(svc.models.show(ref))


@router.get("/models/{name}/versions")
def list_versions(
    name: str, svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None
) -> Response:
    """The versions of ``name``, oldest first."""
    return json_response(page(svc.models.versions(name), limit, page_token))


@router.get("/models/{name}/versions/{number}")
def get_version(name: str, number: Number, request: Request, svc: Svc) -> Response:
    """One version with its files (ETag: it changes only when an alias moves)."""
    return immutable(request, svc.models.show(f"{name}@{number}"))


@router.get("/models/{name}/versions/{number}/files/{path:path}")
def get_file(name: str, number: Number, path: str, svc: Svc) -> Response:
    """One artifact file of the version, streamed and verified, as an attachment."""
    entry, data = svc.models.open_file(f"{name}@{number}", path)
    return StreamingResponse(
        data, media_type=MEDIA_TYPE, headers=attachment(entry.path, entry.size)
    )


@router.get("/models/{name}/best")
def best_version(
    name: str,
    metric: Annotated[str, Query(max_length=300)],
    svc: Svc,
    mode: Annotated[str, Query(max_length=10)] = "max",
) -> Response:
    """The version with the best value of ``metric`` (``mode`` max or min)."""
    return json_response(svc.models.best_version(name, metric, mode))


@router.put("/models/{name}/aliases/{alias}", openapi_extra=body_schema(AliasTarget))
async def set_alias(name: str, alias: str, request: Request, svc: Svc) -> Response:
    """Point ``name@alias`` at a version (moving it if it points elsewhere)."""
    body = await read_json(request, AliasTarget)
    change = await run_in_threadpool(svc.models.set_alias, name, alias, body.version)
    return json_response(change)


@router.delete("/models/{name}/aliases/{alias}")
def delete_alias(name: str, alias: str, svc: Svc) -> Response:
    """Remove ``name@alias``."""
    return json_response(svc.models.delete_alias(name, alias))


@router.post("/models/{name}/versions", status_code=201, openapi_extra=body_schema(ModelUpload))
async def register(name: str, request: Request, svc: Svc) -> Response:
    """Register the next version of ``name`` from files whose chunks were uploaded with
    ``POST /chunks`` (409 names a chunk that is not stored)."""
    upload = await read_json(request, ModelUpload)
    version = await run_in_threadpool(svc.models.commit_version, name, upload)
    return json_response(version, status=201)
