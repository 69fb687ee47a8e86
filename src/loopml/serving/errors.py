"""Request errors of the endpoint and the one translator from :class:`LoopError` to HTTP status.

Request errors are ordinary :class:`~loopml.core.errors.InvalidInput` errors that also name the
field at fault (``records[3].age``, ``inputs[0].data``), so a client can point at it.
"""

from __future__ import annotations

from loopml.core.errors import (
    Conflict,
    InvalidInput,
    InvalidName,
    LoopError,
    NotFound,
    OperationalError,
    PermissionDenied,
)


class RequestError(InvalidInput):
    """A request body the endpoint cannot use; ``field`` names the part at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedBody(RequestError):
    """The body is not JSON, or not a JSON object."""


class BodyTooLarge(RequestError):
    """The body is larger than the endpoint accepts."""


class QueueFull(OperationalError):
    """A bounded queue is full; the client may retry later."""


def http_status(exc: LoopError) -> int:
    """The HTTP status for ``exc`` (the endpoint's only translator)."""
    if isinstance(exc, BodyTooLarge):
        return 413
    if isinstance(exc, MalformedBody | InvalidName):
        return 400
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, QueueFull):
        return 503
    return 500
