"""Tokens (``Access``, admin only) and the web UI's browser session, which keeps a token in a
cookie. Who may call each route is decided in :mod:`loopml.server.access`, not here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from loopml.connect import Services
from loopml.core.identity import local_user
from loopml.server.access import clear_session, principal_of, set_session
from loopml.server.wire import DEFAULT_PAGE, body_schema, json_response, page, read_json, services

router = APIRouter(tags=["access"])

Svc = Annotated[Services, Depends(services)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@dataclass(frozen=True)
class TokenRequest:
    """Body of ``POST /tokens``: the role (reader, writer or admin) and an optional name."""

    role: str
    name: str | None = None


@dataclass(frozen=True)
class SessionRequest:
    """Body of ``POST /session``: the token to keep in the browser's session cookie."""

    token: str


@router.get("/tokens")
def list_tokens(svc: Svc, limit: Limit = DEFAULT_PAGE, page_token: str | None = None) -> Response:
    """Every token, revoked ones too (never their secrets)."""
    return json_response(page(svc.access.list(), limit, page_token))


@router.post("/tokens", status_code=201, openapi_extra=body_schema(TokenRequest))
async def create_token(request: Request, svc: Svc) -> Response:
    """Make a token; the answer is the only place its secret appears."""
    body = await read_json(request, TokenRequest)
    return json_response(svc.access.create(body.role, body.name), status=201)


@router.delete("/tokens/{name}")
def revoke_token(name: str, svc: Svc) -> Response:
    """Revoke a token: from now on it is refused."""
    return json_response(svc.access.revoke(name))


def _who(request: Request) -> dict[str, Any]:
    principal = principal_of(request.scope)
    if principal is None:  # a server without --auth: the local user may do everything
        return {"name": local_user(), "role": "admin", "auth": False}
    return {"name": principal.name, "role": principal.role.value, "auth": True}


@router.get("/session")
def get_session(request: Request) -> Response:
    """Who this browser (or token) is: ``{"name", "role", "auth"}``, so a page can hide what
    the role may not do."""
    return json_response(_who(request))


@router.post("/session", openapi_extra=body_schema(SessionRequest))
async def open_session(request: Request, svc: Svc) -> Response:
    """Check a token and keep it in an HttpOnly, SameSite=Strict session cookie."""
    body = await read_json(request, SessionRequest)
    if not request.app.state.config.auth:
        return json_response(_who(request))
    principal = svc.access.authenticate(body.token)
    response = json_response({"name": principal.name, "role": principal.role.value, "auth": True})
    set_session(response, body.token, secure=request.url.scheme == "https")
    return response


@router.delete("/session", status_code=204)
def close_session(request: Request) -> Response:
    """Forget the session cookie."""
    response = Response(status_code=204)
    clear_session(response, secure=request.url.scheme == "https")
    return response
