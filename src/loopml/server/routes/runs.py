"""Experiments and runs (the ``Runs`` interface). An example of the route shape every router
follows: parse, call the service, serialize through the codec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from loopml.connect import Services
from loopml.server.wire import DEFAULT_PAGE, body_schema, json_response, page, read_json, services

router = APIRouter(tags=["runs"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@dataclass(frozen=True)
class NewExperiment:
    """Body of ``POST /experiments``."""

    name: str


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
