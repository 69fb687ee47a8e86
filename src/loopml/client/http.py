"""One HTTP connection to a ``loopml server``: the base URL, the bearer token, and the one
translation of an error answer back into the :class:`LoopError` the server raised."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from loopml.api import codec
from loopml.api.access import Unauthenticated
from loopml.core.errors import (
    Cancelled,
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidName,
    LoopError,
    NotFound,
    PermissionDenied,
    StoreError,
)

T = TypeVar("T")

API = "/api/v1"
TIMEOUT = 60.0

_ERRORS: dict[int, type[LoopError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    415: InvalidInput,
    421: PermissionDenied,
    422: InvalidInput,
}


class Http:
    """Requests to ``uri`` + ``/api/v1`` with ``token``; error answers raise."""

    def __init__(self, uri: str, token: str | None = None, timeout: float = TIMEOUT) -> None:
        import httpx

        base = uri.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise InvalidInput(
                f"LOOPML_URI {uri!r} is not an http:// or https:// address; "
                "set it to the server's address, e.g. LOOPML_URI=http://127.0.0.1:5000"
            )
        headers = {"User-Agent": "loopml-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.uri = base
        self.client = httpx.Client(base_url=base + API, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The httpx response of one request; an error answer raises its LoopError."""
        import httpx

        sent_headers = dict(headers or {})
        if json is not None:
            content = codec.encode(json)
            sent_headers["Content-Type"] = "application/json"
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self.client.request(
                method, path, params=params, content=content, headers=sent_headers, **extra
            )
        except httpx.TransportError as exc:
            raise StoreError(
                f"cannot reach the loopml server at {self.uri} ({type(exc).__name__}: {exc}); "
                "check that `loopml server` runs there and LOOPML_URI is right"
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Iterator[Any]:
        """The httpx response of one request whose body is read as it arrives
        (``response.iter_bytes()``); an error answer raises its LoopError."""
        import httpx

        headers: dict[str, str] = {}
        content = None
        if json is not None:
            content = codec.encode(json)
            headers["Content-Type"] = "application/json"
        try:
            with self.client.stream(
                method, path, params=params, content=content, headers=headers
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                yield response
        except httpx.TransportError as exc:
            raise StoreError(
                f"the connection to the loopml server at {self.uri} failed "
                f"({type(exc).__name__}: {exc}); check that `loopml server` runs there and "
                "try again"
            ) from None

    def get(self, path: str, type_: type[T], params: Mapping[str, Any] | None = None) -> T:
        """``GET path`` read as a ``type_``."""
        return codec.decode(self.request("GET", path, params=params).content, type_)

    def send(self, method: str, path: str, body: Any, type_: type[T]) -> T:
        """``method path`` with a JSON ``body``, the answer read as a ``type_``."""
        return codec.decode(self.request(method, path, json=body).content, type_)

    def pages(
        self,
        path: str,
        type_: type[T],
        params: Mapping[str, Any] | None = None,
        most: int | None = None,
    ) -> Iterator[T]:
        """Every item of a paginated list (at most ``most``), fetching the next page as the
        last is consumed."""
        query = dict(params or {})
        query.setdefault("limit", 1000 if most is None else max(1, min(most, 1000)))
        given = 0
        while True:
            data = codec.decode(self.request("GET", path, params=query).content, dict[str, Any])
            for item in data["items"]:
                if most is not None and given >= most:
                    return
                given += 1
                yield codec.from_builtins(item, type_)
            token = data.get("next_page_token")
            if not token:
                return
            query["page_token"] = token


_BY_CODE: dict[str, type[LoopError]] = {
    cls.__name__: cls
    for cls in (
        NotFound,
        InvalidName,
        InvalidInput,
        Conflict,
        PermissionDenied,
        StoreError,
        IntegrityError,
        Cancelled,
    )
}


def _error(response: Any) -> LoopError:
    body: Any = None
    try:
        body = response.json()
        message = str(body.get("error") or response.reason_phrase)
    except (ValueError, AttributeError):
        message = f"the server answered {response.status_code} {response.reason_phrase}"
    status = response.status_code
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, str) and code in _BY_CODE and status < 500 and status != 401:
        return _BY_CODE[code](message)  # the same class the service raised
    # The server failed, not the caller: a StoreError, which the tracker's buffer keeps and
    # retries (as it does when the database itself fails).
    return _ERRORS.get(status, StoreError)(message)
