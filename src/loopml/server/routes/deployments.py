"""Deployments (the ``Deployments`` interface): deploy behind a gate, check a gate without
deploying, roll back, and the history of one model's deployments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from loopml.connect import Services
from loopml.server.wire import (
    DEFAULT_PAGE,
    body_schema,
    json_response,
    page_of,
    read_json,
    services,
)

router = APIRouter(tags=["deployments"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@dataclass(frozen=True)
class DeployRequest:
    """Body of ``POST /deployments/{name}`` and ``…/check``: which version (one of ``select``
    such as ``best:accuracy``, ``version`` or ``alias``), the gate, and the alias to move."""

    select: str | None = None
    version: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    alias: str | None = None
    gate: str | None = None
    to: str = "production"


@dataclass(frozen=True)
class RollbackRequest:
    """Body of ``POST /deployments/{name}/rollback``."""

    to: str = "production"


@router.post("/deployments/{name}", openapi_extra=body_schema(DeployRequest))
async def deploy(name: str, request: Request, svc: Svc) -> Response:
    """Deploy a version of ``name`` to ``to`` if the gate passes; the recorded deployment
    (status ``refused`` when the gate said no)."""
    body = await read_json(request, DeployRequest)
    return json_response(
        svc.deployments.deploy(
            name,
            select=body.select,
            version=body.version,
            alias=body.alias,
            gate=body.gate,
            to=body.to,
        )
    )


@router.post("/deployments/{name}/check", openapi_extra=body_schema(DeployRequest))
async def check(name: str, request: Request, svc: Svc) -> Response:
    """``{"version": ModelVersion, "gate": GateResult}``: what a deploy would choose and what
    its gate says, without moving anything."""
    body = await read_json(request, DeployRequest)
    version, gate = svc.deployments.check(
        name, select=body.select, version=body.version, alias=body.alias, gate=body.gate, to=body.to
    )
    return json_response({"version": version, "gate": gate})


@router.post("/deployments/{name}/rollback", openapi_extra=body_schema(RollbackRequest))
async def rollback(name: str, request: Request, svc: Svc) -> Response:
    """Move ``to`` back to the version it pointed at before the last deployment."""
    body = await read_json(request, RollbackRequest)
    return json_response(svc.deployments.rollback(name, to=body.to))


@router.get("/deployments/{name}/history")
def history(
    name: str,
    svc: Svc,
    to: str | None = None,
    limit: Limit = DEFAULT_PAGE,
    page_token: str | None = None,
) -> Response:
    """The deployments of ``name`` (to one alias with ``to``), newest first."""
    return json_response(
        page_of(lambda n: svc.deployments.history(name, to=to, limit=n), limit, page_token)
    )
