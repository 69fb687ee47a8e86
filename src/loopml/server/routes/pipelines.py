"""Pipeline runs, read side (the reading half of the ``Pipelines`` interface): the runs, one
run with its steps, and one step's captured output. Running a pipeline happens beside the
stores (a worker, or ``loopml pipeline run`` without ``LOOPML_URI``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from loopml.connect import Services
from loopml.server.wire import DEFAULT_PAGE, json_response, page_of, services

router = APIRouter(tags=["pipelines"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]


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
