"""Monitors of deployments (the ``Monitoring`` interface): add, list, show, remove, run one
window now, and the stored results. A deployment in a path is a model reference such as
``churn@production``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from loopml.api.monitoring import ColumnOptions
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

router = APIRouter(tags=["monitoring"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@dataclass(frozen=True)
class NewMonitor:
    """Body of ``POST /monitors``; periods are seconds or text such as ``1h``."""

    deployment: str
    reference: str | None = None
    window: str | float = "1h"
    every: str | float | None = None
    rules: list[str] = field(default_factory=list)
    columns: dict[str, ColumnOptions] = field(default_factory=dict)
    share_threshold: float = 0.5
    target: str | None = None


@dataclass(frozen=True)
class RunWindow:
    """Body of ``POST /monitors/{deployment}/run``: the window (default: the monitor's, ending
    now), as a period or as ``since``/``until`` times."""

    window: str | float | None = None
    since: str | float | None = None
    until: str | float | None = None


@router.get("/monitors")
def list_monitors(svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None) -> Response:
    return json_response(page(svc.monitoring.list(), limit, page_token))


@router.post("/monitors", status_code=201, openapi_extra=body_schema(NewMonitor))
async def add_monitor(request: Request, svc: Svc) -> Response:
    """Watch a deployment (409 if it is watched already)."""
    body = await read_json(request, NewMonitor)
    spec = svc.monitoring.add(
        body.deployment,
        reference=body.reference,
        window=body.window,
        every=body.every,
        rules=body.rules,
        columns=body.columns,
        share_threshold=body.share_threshold,
        target=body.target,
    )
    return json_response(spec, status=201)


@router.get("/monitors/{deployment}")
def get_monitor(deployment: str, svc: Svc) -> Response:
    return json_response(svc.monitoring.get(deployment))


@router.delete("/monitors/{deployment}")
def remove_monitor(deployment: str, svc: Svc) -> Response:
    """Stop watching; ``{"results": N}`` says how many stored results went with it."""
    return json_response({"results": svc.monitoring.remove(deployment)})


@router.post("/monitors/{deployment}/run", openapi_extra=body_schema(RunWindow))
async def run_monitor(deployment: str, request: Request, svc: Svc) -> Response:
    """Compute one window now, store it with the alerts it fires, and return it."""
    body = await read_json(request, RunWindow)
    return json_response(
        svc.monitoring.run(deployment, window=body.window, since=body.since, until=body.until)
    )


@router.get("/monitors/{deployment}/results")
def monitor_results(
    deployment: str, svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None
) -> Response:
    """Stored results, newest first."""
    return json_response(
        page_of(lambda n: svc.monitoring.results(deployment, n), limit, page_token)
    )
