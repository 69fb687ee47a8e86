"""Errors of the endpoint and the one translator from :class:`LoopError` to HTTP status.

Every error here sits in the :mod:`loopml.core.errors` tree::

    InvalidInput
    └── RequestError             a request the endpoint cannot use; ``field`` names the part  (422)
        ├── MalformedBody        the body is not JSON, or not a JSON object                     (400)
        ├── BodyTooLarge         the body is larger than ``--max-body-bytes``                   (413)
        ├── UnsupportedMediaType the body is not sent as ``application/json``                   (415)
        └── MisdirectedRequest   the ``Host`` header names a host this endpoint does not serve  (421)
    UserError
    └── PortUnavailable          ``loopml serve`` cannot listen on the address and port asked for
    OperationalError
    ├── QueueFull                a bounded queue is full; the client may retry later            (503)
    ├── ModelOutputError         the model answered something that is not one row per input row (500)
    └── ClientGone               the client disconnected before sending its whole body          (499)

HTTP status codes live here, in the serving layer, and nowhere below it.
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
    UserError,
)


class RequestError(InvalidInput):
    """A request the endpoint cannot use; ``field`` names the part at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedBody(RequestError):
    """The body is not JSON, or not a JSON object."""


class BodyTooLarge(RequestError):
    """The body is larger than the endpoint accepts."""


class UnsupportedMediaType(RequestError):
    """The body is not declared as JSON (``Content-Type: application/json``)."""


class MisdirectedRequest(RequestError):
    """The ``Host`` header names a host this endpoint does not answer for."""


class PortUnavailable(UserError):
    """The endpoint cannot listen on the address and port it was asked for."""


class QueueFull(OperationalError):
    """A bounded queue is full; the client may retry later."""


class ModelOutputError(OperationalError):
    """The model returned something other than one output row per input row."""


class ClientGone(OperationalError):
    """The client disconnected before sending its whole body."""


# A caller's mistakes, by class, most specific first: the statuses the endpoint and the server
# (loopml.server.errors) share; each adds its own after these.
REQUEST_STATUS: tuple[tuple[type[LoopError], int], ...] = (
    (BodyTooLarge, 413),
    (UnsupportedMediaType, 415),
    (MisdirectedRequest, 421),
    (MalformedBody, 400),
    (InvalidName, 400),
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
)
_STATUS: tuple[tuple[type[LoopError], int], ...] = (
    *REQUEST_STATUS,
    (QueueFull, 503),
    (ClientGone, 499),
)


def status_in(table: tuple[tuple[type[LoopError], int], ...], exc: LoopError, other: int) -> int:
    """The status of the first class in ``table`` that ``exc`` is, else ``other``."""
    return next((status for cls, status in table if isinstance(exc, cls)), other)


def http_status(exc: LoopError) -> int:
    """The HTTP status for ``exc`` (the endpoint's only translator)."""
    return status_in(_STATUS, exc, 500)
