"""Finding runs (the ``Search`` interface): ``GET /runs`` with a filter expression, an order
and pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from loopml.connect import Services
from loopml.server.wire import DEFAULT_PAGE, decode_token, json_response, page, services

router = APIRouter(tags=["search"])

Svc = Annotated[Services, Depends(services)]


@router.get("/runs")
async def search_runs(
    svc: Svc,
    experiment: Annotated[list[str] | None, Query(description="Repeatable.")] = None,
    filter: Annotated[
        str | None,
        Query(description="E.g. metrics.accuracy > 0.9 and params.model = 'lr'."),
    ] = None,
    order_by: Annotated[
        list[str] | None, Query(description="E.g. 'metrics.loss asc'; repeatable.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_PAGE,
    page_token: str | None = None,
) -> Response:
    """Runs matching ``filter``, newest first unless ``order_by`` says otherwise, one page at a
    time (each item as the search gives it: params, tags and latest metrics)."""
    start = decode_token(page_token)
    # One more than the page, so the page knows whether another follows.
    found = await run_in_threadpool(
        svc.search.search_runs, experiment or None, filter, order_by or None, start + limit + 1
    )
    return json_response(page(found, limit, page_token))
