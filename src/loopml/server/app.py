"""The server's ASGI app: the ``/api/v1`` routers over one :class:`Services`, the error
translation, and the checks every request passes before a route sees it (allowed ``Host``,
JSON content type, body size)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopml.connect import Services
from loopml.core.errors import LoopError
from loopml.server import wire
from loopml.server.access import Guard
from loopml.server.errors import BodyTooLarge, error_body, http_status
from loopml.serving.hosts import host_of, is_loopback

API = "/api/v1"

log = logging.getLogger("loopml.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ServerConfig:
    """How the app checks requests. ``auth`` turns on bearer tokens; without it only loopback
    ``Host`` headers (and ``allowed_hosts``) are answered."""

    auth: bool = False
    max_body_bytes: int = 64 * 1024 * 1024
    allowed_hosts: tuple[str, ...] = ()
    raw_body_prefixes: tuple[str, ...] = field(default=(f"{API}/chunks",))
    raw_body_patterns: tuple[str, ...] = field(default=(rf"{API}/runs/[^/]+/artifacts/",))
    """Routes (regular expressions matched at the start of the path) taking raw bytes."""
    # JSON routes under a raw prefix: the chunk questions (which are missing, send these back)
    json_body_paths: tuple[str, ...] = field(default=(f"{API}/chunks/missing", f"{API}/chunks/get"))


def create_app(services: Services, config: ServerConfig | None = None) -> FastAPI:
    """The app serving ``services`` under ``/api/v1``."""
    config = config or ServerConfig()
    app = FastAPI(
        title="loopml",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # A trailing slash is a 404, not a redirect to a decoded path (``…/%2e%2e%2f`` would
        # come back as ``Location: …/..``).
        redirect_slashes=False,
    )
    app.state.services = services
    app.state.config = config
    _errors(app)
    from loopml.server.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router, prefix=API)
    from loopml.server.ui import router as ui

    app.include_router(ui)
    _merge_body_schemas(app, config)
    app.add_middleware(Guard, services=services, auth=config.auth)
    app.add_middleware(_Checks, config=config)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(LoopError)
    async def loop_error(_request: Request, exc: LoopError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=http_status(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        message = f"{where or 'request'}: {first.get('msg', 'invalid value')}"
        return JSONResponse({"error": message, "field": where or None}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug, not a refusal: logged with its traceback, answered as JSON all the same
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); see the server log"
        return JSONResponse({"error": message, "field": None}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        text = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and text == "Not Found":
            text = "no such route; the API lives under /api/v1 (see /docs)"
        return JSONResponse({"error": text, "field": None}, status_code=exc.status_code)


def _merge_body_schemas(app: FastAPI, config: ServerConfig) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(wire.COMPONENTS)
            if config.auth:
                components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class _Checks:
    """Refuse before routing: a ``Host`` that is not ours (DNS rebinding, without auth), a body
    that is not JSON on a JSON route (415: blocks cross-site ``text/plain`` posts), a body over
    the limit (413, counted as it streams in)."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.allowed = {h.lower() for h in config.allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refuse(scope, headers)
        if refusal is not None:
            status, message, name = refusal
            response = JSONResponse({"error": message, "field": name}, status_code=status)
            await response(scope, receive, send)
            return
        limit = self.config.max_body_bytes
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(f"the request body is larger than {limit} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            response = JSONResponse(
                {"error": f"the request body is larger than {limit} bytes", "field": "body"},
                status_code=413,
            )
            await response(scope, receive, send)

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str | None] | None:
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            return (422, "a NUL character is not allowed in a URL; remove it", "path")
        if not self.config.auth:
            host = host_of(headers.get("host", ""))
            if host is None or not (is_loopback(host) or host in self.allowed):
                return (
                    421,
                    "this server runs without --auth and answers only loopback Host names "
                    "(localhost, 127.0.0.1, [::1]); start it with --auth to serve other hosts",
                    "host",
                )
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.config.max_body_bytes:
            return (
                413,
                f"the request body is larger than {self.config.max_body_bytes} bytes",
                "body",
            )
        if scope["method"] in ("POST", "PUT", "PATCH") and length != "0":
            path: str = scope["path"]
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            raw = path not in self.config.json_body_paths and (
                any(path.startswith(p) for p in self.config.raw_body_prefixes)
                or any(re.match(p, path) for p in self.config.raw_body_patterns)
            )
            wanted = "application/octet-stream" if raw else "application/json"
            if ctype != wanted:
                return (
                    415,
                    f"send the body as {wanted} (got {ctype or 'no Content-Type'})",
                    "content-type",
                )
        return None


class _TooLarge(BodyTooLarge):
    """Raised inside the app when the streamed body passes the limit."""
