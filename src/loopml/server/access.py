"""Who may call what, in one place. With ``--auth`` every ``/api/v1`` request but ``/health``
(and logging in or out of a browser session) carries a token, as ``Authorization: Bearer
TOKEN`` or as the web UI's session cookie; :data:`RULES` says which role each method and path
needs. The request then runs as the token's name (:func:`loopml.core.identity.acting_as`), which
every write records as its author.

A write that carries no bearer token (a browser's, with the session cookie or on a server
without ``--auth``) must come from this server's own pages: ``Sec-Fetch-Site`` (or, from older
browsers, ``Origin``) naming another site is refused (CSRF)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from loopml.api.access import Principal, Role, Unauthenticated
from loopml.connect import Services
from loopml.core.identity import acting_as

API = "/api/v1"
COOKIE = "loopml_session"
COOKIE_MAX_AGE_S = 7 * 24 * 3600
READS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Rule:
    """Requests whose method is in ``methods`` (``READ``, ``WRITE`` or ``ANY``) and whose path
    under ``/api/v1`` starts with the segments of ``path`` (``*``: any one segment) need
    ``role`` (None: no token)."""

    methods: str
    path: str
    role: Role | None

    def matches(self, method: str, segments: list[str]) -> bool:
        if self.methods == "READ" and method not in READS:
            return False
        if self.methods == "WRITE" and method in READS:
            return False
        wanted = [s for s in self.path.split("/") if s]
        if len(segments) < len(wanted):
            return False
        return all(w in ("*", s) for w, s in zip(wanted, segments, strict=False))


# The first rule that matches decides; the last two catch everything else.
RULES: tuple[Rule, ...] = (
    Rule("ANY", "/health", None),
    Rule("WRITE", "/session", None),  # log in (with a token in the body) or out
    Rule("READ", "/tokens", Role.ADMIN),
    Rule("WRITE", "/tokens", Role.ADMIN),
    Rule("WRITE", "/triggers/*/webhook", Role.WRITER),
    Rule("WRITE", "/triggers", Role.ADMIN),
    Rule("WRITE", "/deployments", Role.ADMIN),
    Rule("WRITE", "/maintenance", Role.ADMIN),
    Rule("READ", "/", Role.READER),
    Rule("WRITE", "/", Role.WRITER),
)


def needed_role(method: str, path: str) -> Role | None:
    """The role a request needs (None: none; paths outside the API, such as the web UI's pages
    and /docs, need none: the data they show comes through the API)."""
    if path != API and not path.startswith(API + "/"):
        return None
    segments = [s for s in path[len(API) :].split("/") if s]
    for rule in RULES:
        if rule.matches(method.upper(), segments):
            return rule.role
    return Role.WRITER  # not reached: the last rules match everything


def same_origin(headers: dict[str, str]) -> bool:
    """Whether a browser sent this request from this server's own pages. A client that is not
    a browser sends neither header and passes (it cannot be driven by another site)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site.lower() in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower())


def session_token(headers: dict[str, str]) -> str | None:
    """The token in the session cookie, if any."""
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE and value:
            return value
    return None


def set_session(response: Response, token: str, secure: bool) -> None:
    """Keep ``token`` in the browser: HttpOnly (no script reads it), SameSite=Strict (no other
    site's request carries it), Secure over https."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_session(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)


def principal_of(scope: Scope) -> Principal | None:
    """The principal the guard admitted this request as (None without ``--auth``)."""
    found: Principal | None = scope.get("state", {}).get("principal")
    return found


class Guard:
    """ASGI middleware: authenticate, check the role and the origin, then run the request as
    the token's name."""

    def __init__(self, app: ASGIApp, services: Services, auth: bool) -> None:
        self.app = app
        self.services = services
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.auth and needed_role("GET", scope["path"]):
            await send({"type": "websocket.close", "code": 1008})  # no socket is served here
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"].upper()
        path: str = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        bearer = headers.get("authorization")
        if method not in READS and bearer is None and not same_origin(headers):
            await _refuse(
                403,
                "refused a write sent from another site's page (Sec-Fetch-Site/Origin is not "
                "this server); use the loopml pages served here, or a bearer token",
                "origin",
            )(scope, receive, send)
            return
        needed = needed_role(method, path) if self.auth else None
        if needed is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await run_in_threadpool(self._authenticate, bearer, headers)
        except Unauthenticated as exc:
            await _refuse(401, str(exc), exc.field)(scope, receive, send)
            return
        if not principal.role.allows(needed):
            message = (
                f"token {principal.name!r} has the {principal.role.value} role; "
                f"{method} {path[len(API) :]} needs {needed.value}"
                + (" or admin" if needed is Role.WRITER else "")
                + "; ask an admin for a token with that role"
            )
            await _refuse(403, message, "authorization")(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        with acting_as(principal.name):
            await self.app(scope, receive, send)

    def _authenticate(self, bearer: str | None, headers: dict[str, str]) -> Principal:
        if bearer is not None:
            scheme, _, token = bearer.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated(
                    "the Authorization header must be 'Bearer TOKEN' (the CLI and SDK send "
                    "LOOPML_TOKEN that way)"
                )
            return self.services.access.authenticate(token.strip())
        cookie = session_token(headers)
        if cookie is not None:
            return self.services.access.authenticate(cookie)
        return self.services.access.authenticate("")


def _refuse(status: int, message: str, field: str | None) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="loopml"'} if status == 401 else None
    code = "PermissionDenied" if status == 403 else None  # as errors.error_body names it
    body = {"error": message, "field": field, "code": code}
    return JSONResponse(body, status_code=status, headers=headers)
