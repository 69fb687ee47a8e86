"""Datasets and the chunk transfer (the ``Datasets`` interface). A push is ``POST
/chunks/missing``, ``POST /chunks`` with only the missing chunks (each verified against its
digest before it is recorded), then ``POST /datasets/{name}/versions``; a pull is the
manifest, then ``POST /chunks/get`` for the chunks the client lacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from loopml.api.datasets import Manifest
from loopml.api.frames import MEDIA_TYPE, decode_frames, encode_frames
from loopml.connect import Services
from loopml.core.errors import NotFound
from loopml.datasets.commit import to_raw
from loopml.datasets.fetch import open_file
from loopml.server.wire import (
    DEFAULT_PAGE,
    body_schema,
    immutable,
    json_response,
    page,
    read_json,
    services,
)

router = APIRouter(tags=["datasets"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Number = Annotated[int, Path(ge=1, le=2**31)]
MAX_DIGESTS = 10_000


@dataclass(frozen=True)
class Digests:
    """Body of ``POST /chunks/missing`` and ``POST /chunks/get``: chunk digests (hex)."""

    digests: tuple[str, ...]


@router.get("/datasets")
def list_datasets(svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None) -> Response:
    """Every dataset with its latest version, one page at a time."""
    return json_response(page(svc.datasets.list(), limit, page_token))


@router.get("/datasets/resolve")
def resolve(ref: Annotated[str, Query(max_length=300)], svc: Svc) -> Response:
    """The version ``ref`` names (``NAME`` for the latest, ``NAME@N``)."""
    return json_response(svc.datasets.show(ref))


@router.get("/datasets/diff")
def diff(
    a: Annotated[str, Query(max_length=300)], b: Annotated[str, Query(max_length=300)], svc: Svc
) -> Response:
    """What changed between two versions (files added, removed, changed)."""
    return json_response(svc.datasets.diff(a, b))


@router.get("/datasets/{name}/versions")
def list_versions(
    name: str, svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None
) -> Response:
    """The versions of ``name``, oldest first."""
    return json_response(page(svc.datasets.versions(name), limit, page_token))


@router.get("/datasets/{name}/versions/{number}")
def get_version(name: str, number: Number, request: Request, svc: Svc) -> Response:
    """One version with its files (immutable: ETag)."""
    return immutable(request, svc.datasets.show(f"{name}@{number}"))


@router.get("/datasets/{name}/versions/{number}/manifest")
def get_manifest(name: str, number: Number, request: Request, svc: Svc) -> Response:
    """The version's files with their chunks in order (immutable: ETag)."""
    return immutable(request, svc.datasets.get_manifest(f"{name}@{number}"))


@router.get("/datasets/{name}/versions/{number}/files/{path:path}")
def get_file(name: str, number: Number, path: str, svc: Svc) -> Response:
    """One file of the version, streamed from its chunks as an attachment."""
    entry, data = open_file(svc.datasets, f"{name}@{number}", path)
    return StreamingResponse(
        data, media_type=MEDIA_TYPE, headers=attachment(entry.path, entry.size)
    )


@router.post("/datasets/{name}/versions", status_code=201, openapi_extra=body_schema(Manifest))
async def commit_version(name: str, request: Request, svc: Svc) -> Response:
    """Commit the next version of ``name`` from a manifest whose chunks are all stored
    (409 names one that is not); identical content answers 200 with the latest version."""
    manifest = await read_json(request, Manifest)
    result = await run_in_threadpool(svc.datasets.commit_version, name, manifest)
    return json_response(result, status=201 if result.created else 200)


@router.post("/chunks/missing", openapi_extra=body_schema(Digests))
async def missing_chunks(request: Request, svc: Svc) -> Response:
    """The digests among those sent that the server does not store."""
    body = await read_json(request, Digests)
    _check_count(body)
    missing = await run_in_threadpool(svc.datasets.missing_chunks, body.digests)
    return json_response({"missing": missing})


@router.post(
    "/chunks",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_chunks(request: Request, svc: Svc) -> Response:
    """Store a stream of chunk frames (see :mod:`loopml.api.frames`), each verified against
    its digest first: one mismatch answers 422 and nothing of the request is recorded."""
    frames = decode_frames(await request.body())
    stored = await run_in_threadpool(svc.datasets.put_chunks, frames)
    return json_response({"stored": stored})


@router.put(
    "/chunks/{digest}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_chunk(digest: str, request: Request, svc: Svc) -> Response:
    """Store one chunk, verified against ``digest`` (422 on a mismatch)."""
    to_raw(digest)
    body = await request.body()
    stored = await run_in_threadpool(svc.datasets.put_chunks, [(digest, body)])
    return json_response({"stored": stored})


@router.get("/chunks/{digest}")
def get_chunk(digest: str, svc: Svc) -> Response:
    """One stored chunk's bytes, verified."""
    ((_, data),) = list(svc.datasets.get_chunks([digest]))
    return Response(
        content=bytes(data),
        media_type=MEDIA_TYPE,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=31536000, immutable",
        },
    )


@router.post("/chunks/get", openapi_extra=body_schema(Digests))
async def get_chunks(request: Request, svc: Svc) -> Response:
    """The chunks asked for, in order, as a stream of frames; 404 if one is not stored."""
    body = await read_json(request, Digests)
    _check_count(body)
    absent = await run_in_threadpool(svc.datasets.missing_chunks, body.digests)
    if absent:
        raise NotFound(
            f"chunk {absent[0]} is not stored ({len(absent)} of those asked for are not); "
            "ask for the chunks a manifest names"
        )
    chunks = svc.datasets.get_chunks(body.digests)
    return StreamingResponse(
        encode_frames(chunks), media_type=MEDIA_TYPE, headers={"X-Content-Type-Options": "nosniff"}
    )


def _check_count(body: Digests) -> None:
    from loopml.core.errors import InvalidInput

    if len(body.digests) > MAX_DIGESTS:
        raise InvalidInput(
            f"{len(body.digests)} digests in one request; send at most {MAX_DIGESTS} at a time"
        )


def attachment(path: str, size: int) -> dict[str, str]:
    """Headers of a file served for download, never rendered by a browser."""
    filename = path.rsplit("/", 1)[-1]
    return {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
        "Content-Length": str(size),
        "X-Content-Type-Options": "nosniff",
    }
