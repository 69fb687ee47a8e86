"""The web UI: static files shipped in the package (``static/``), served at ``/`` and
``/ui/{file}`` with a Content-Security-Policy that allows only this server's own scripts and
styles. The pages draw everything from the ``/api/v1`` JSON API in the browser."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

AUTH_OFF = b'<meta name="loopml-auth" content="off">'
AUTH_ON = b'<meta name="loopml-auth" content="on">'

router = APIRouter(include_in_schema=False)


@cache
def _files() -> dict[str, bytes]:
    """Every file of ``static/`` by name (read once; the set is fixed, so no path from a
    request ever reaches the file system)."""
    folder = resources.files(__package__).joinpath("static")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(ext) for ext in TYPES)
    }


def _answer(request: Request, name: str) -> Response:
    """The file, or 304 when the browser's copy (``If-None-Match``) is still this one."""
    body = _files().get(name)
    if body is None:
        return Response(
            b'{"error": "no such file of the web UI; open / for the UI", "field": "path"}',
            status_code=404,
            media_type="application/json",
        )
    if name == "index.html" and request.app.state.config.auth:
        body = body.replace(AUTH_OFF, AUTH_ON)
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {**HEADERS, "ETag": tag}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    kind = TYPES[name[name.rfind(".") :]]
    return Response(body, media_type=kind, headers=headers)


@router.get("/")
async def index(request: Request) -> Response:
    """The single page of the UI (its routes live after the ``#``); its meta tag tells the
    scripts whether this server asks for tokens, so a server without ``--auth`` is never asked
    for a session."""
    return _answer(request, "index.html")


@router.get("/ui/")
async def index_ui(request: Request) -> Response:
    return _answer(request, "index.html")


@router.get("/ui/{name}")
async def static(request: Request, name: str) -> Response:
    """One file of the UI (script, style or icon)."""
    return _answer(request, name)
