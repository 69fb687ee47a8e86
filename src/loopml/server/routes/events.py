"""The events outbox, read by cursor and long-polled (the ``EventReader`` interface).

``GET /events?after=CURSOR&wait=S`` answers at once when there are events after ``CURSOR``;
otherwise it waits up to ``S`` seconds (at most :data:`MAX_WAIT_S`) and answers as soon as one
is appended. Events are appended by any process that writes to the store, not only this
server, so the wait reads the outbox again with a back-off (10 ms to 250 ms). It waits on the
event loop, holding no thread between reads (each read runs in the threadpool): many
long-polling clients do not starve the other routes, and a client that hangs up stops its
wait."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from loopml.connect import Services
from loopml.server.wire import json_response, services

router = APIRouter(tags=["events"])

Svc = Annotated[Services, Depends(services)]

MAX_WAIT_S = 20.0
"""The longest one request waits; a client that wants longer asks again."""


_FIRST_PAUSE_S = 0.01
_LAST_PAUSE_S = 0.25


@router.get("/events")
async def read_events(
    request: Request,
    svc: Svc,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="The last event id already handled.")
    ] = 0,
    kinds: Annotated[
        str | None, Query(description="Comma-separated event kinds (none: every kind).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[float, Query(ge=0.0, description="Seconds to wait for a new event.")] = 0.0,
) -> Response:
    """Up to ``limit`` events after ``after``, oldest first, and the cursor to pass next."""
    wanted = None if not kinds else [k.strip() for k in kinds.split(",") if k.strip()]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait, MAX_WAIT_S)
    pause = _FIRST_PAUSE_S
    while True:
        found = await run_in_threadpool(svc.events.read_after, after, wanted, limit)
        left = deadline - loop.time()
        if found or left <= 0.0 or await request.is_disconnected():
            break
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, _LAST_PAUSE_S)
    cursor = found[-1].id if found else after
    return json_response({"items": [e.to_dict() for e in found], "cursor": cursor})


@router.get("/events/latest")
def latest_cursor(svc: Svc) -> Response:
    """``{"cursor": N}``: the id of the newest event now (0 when there is none)."""
    return json_response({"cursor": svc.events.latest_cursor()})
