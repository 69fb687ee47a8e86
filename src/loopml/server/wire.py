"""What every route shares: JSON answers through the one codec, typed JSON bodies read with a
size and depth check, pagination, and ETags for things that never change."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response

from loopml.api import codec
from loopml.connect import Services
from loopml.core.errors import InvalidInput
from loopml.core.paths import safe_relpath
from loopml.serving.errors import MalformedBody, RequestError

T = TypeVar("T")

MAX_PAGE = 1000
DEFAULT_PAGE = 100


def services(request: Request) -> Services:
    """The services of the app's store (a FastAPI dependency)."""
    found: Services = request.app.state.services
    return found


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``value`` (value types, lists and dicts of them) as a JSON answer."""
    return Response(
        content=codec.encode(value),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def immutable(request: Request, value: Any) -> Response:
    """A JSON answer with a strong ETag; ``If-None-Match`` with the same tag gets 304."""
    body = codec.encode(value)
    tag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {"ETag": tag, "Cache-Control": "private, max-age=0, must-revalidate"}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


async def read_json(request: Request, type_: type[T]) -> T:
    """The request body parsed as ``type_`` (InvalidInput names the wrong field)."""
    body = await request.body()
    if not body:
        raise MalformedBody("the request has no body; send a JSON object", field="body")
    if b"\\u0000" in body:
        # No name, key or value holds one, and PostgreSQL refuses it in text deep in a write.
        raise RequestError("the JSON body holds a NUL character (\\u0000); remove it", field="body")
    return codec.decode(body, type_)


COMPONENTS: dict[str, Any] = {}
"""Schemas of the request bodies declared with :func:`body_schema`, merged into the OpenAPI
document's ``components.schemas`` by the app."""


def body_schema(type_: Any) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of ``type_`` (for /docs and schemathesis)."""
    import msgspec

    (schema,), components = msgspec.json.schema_components(
        [type_], ref_template="#/components/schemas/{name}"
    )
    COMPONENTS.update(components)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def page(items: Sequence[Any], limit: int, page_token: str | None) -> dict[str, Any]:
    """One page of ``items``: ``{"items": [...], "next_page_token": str | null}``."""
    start = decode_token(page_token)
    limit = max(1, min(limit, MAX_PAGE))
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return {"items": chunk, "next_page_token": encode_token(start + limit) if more else None}


def page_of(
    fetch: Callable[[int], Sequence[Any]], limit: int, page_token: str | None
) -> dict[str, Any]:
    """One page of a list that a service returns newest first up to a count: ``fetch(n)``
    returns the first ``n`` items; the page is the ``limit`` after the token's offset."""
    start = decode_token(page_token)
    limit = max(1, min(limit, MAX_PAGE))
    items = fetch(start + limit + 1)
    chunk = list(items[start : start + limit])
    more = len(items) > start + limit
    return {"items": chunk, "next_page_token": encode_token(start + limit) if more else None}


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    """The offset a page token stands for; a token this server did not make is refused."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("o") or not text[1:].isdigit() or len(text) > 20:
        raise RequestError(
            "page_token is not one this server gave; pass next_page_token from the previous page",
            field="page_token",
        )
    return int(text[1:])


MAX_URL_PATH = 1024
_ENCODED = ("%2e", "%2f", "%5c", "%00", "%25")


def url_path(raw: str, field: str = "path") -> str:
    """A file path taken from a URL (percent-decoded once by the server), normalized and
    confined like every stored path: ``..``, absolute paths, NUL and backslashes are refused,
    and so is a path that still holds an encoded dot, slash, backslash, NUL or percent sign
    (``%252e``: encoded twice, it would turn into a traversal if anything decoded it again)."""
    lowered = raw.lower()
    if any(code in lowered for code in _ENCODED):
        raise RequestError(
            f"{field} {raw[:80]!r} holds a percent-encoded '.', '/', '\\', NUL or '%'; "
            "send the plain path, encoded once",
            field=field,
        )
    if len(raw) > MAX_URL_PATH or any(len(part.encode()) > 255 for part in raw.split("/")):
        raise RequestError(
            f"{field} is too long: at most {MAX_URL_PATH} characters, 255 bytes a part",
            field=field,
        )
    try:
        return safe_relpath(raw)
    except InvalidInput as exc:
        raise RequestError(str(exc), field=field) from None
