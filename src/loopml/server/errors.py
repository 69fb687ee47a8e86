"""The server's one translator from the :class:`LoopError` tree to an HTTP status and a JSON
body ``{"error": message, "field": name-or-null}``. A route never picks a status itself."""

from __future__ import annotations

from loopml.api.access import Unauthenticated
from loopml.core.errors import (
    LoopError,
    OperationalError,
    UserError,
)
from loopml.serving.errors import (
    REQUEST_STATUS,
    BodyTooLarge,
    MalformedBody,
    MisdirectedRequest,
    RequestError,
    UnsupportedMediaType,
    status_in,
)

# Unauthenticated before PermissionDenied, its parent in the endpoint's table.
_STATUS: tuple[tuple[type[LoopError], int], ...] = (
    (Unauthenticated, 401),
    *REQUEST_STATUS,
    (UserError, 400),
    (OperationalError, 503),
)


def http_status(exc: LoopError) -> int:
    """The status for ``exc``: 4xx for a caller's mistake, 503 when the platform failed."""
    return status_in(_STATUS, exc, 503)


_CODES = (
    "NotFound",
    "InvalidName",
    "InvalidInput",
    "Conflict",
    "PermissionDenied",
    "StoreError",
    "IntegrityError",
    "Cancelled",
)


def error_body(exc: LoopError) -> dict[str, str | None]:
    """The JSON body of an error answer: the message, the field at fault, and ``code``, the
    class of :mod:`loopml.core.errors` it is (so a remote client raises the same one)."""
    code = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in _CODES), None)
    return {"error": str(exc), "field": getattr(exc, "field", None), "code": code}


__all__ = [
    "BodyTooLarge",
    "MalformedBody",
    "MisdirectedRequest",
    "RequestError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "error_body",
    "http_status",
]
