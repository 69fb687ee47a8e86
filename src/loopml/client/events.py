"""``EventReader`` over HTTP: ``read_after`` with ``wait`` long-polls ``GET /events``, so a
remote consumer (a controller, an endpoint's hot swap) reacts to an event as soon as the
server sees it, without polling the database itself."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from loopml.api.events import Event, EventKind, kinds_of
from loopml.client.http import Http
from loopml.core.errors import InvalidInput

MAX_WAIT_S = 20.0  # what one request may wait on the server; longer waits ask again
_SLACK_S = 15.0  # the HTTP timeout beyond the wait


class RemoteEvents:
    def __init__(self, http: Http) -> None:
        self.http = http

    def read_after(
        self,
        cursor: int,
        kinds: Iterable[EventKind | str] | None = None,
        limit: int = 100,
        wait: float = 0.0,
    ) -> list[Event]:
        if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
            raise InvalidInput(
                "an event cursor is an event id (a whole number >= 0, 0 for the start), "
                f"got {cursor!r}"
            )
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait >= 0.0:
            raise InvalidInput(f"wait must be a number of seconds >= 0, got {wait!r}")
        params: dict[str, Any] = {"after": cursor, "limit": min(limit, 1000)}
        if kinds is not None:
            params["kinds"] = ",".join(k.value for k in kinds_of(kinds))
        deadline = time.monotonic() + float(wait)
        while True:
            left = max(0.0, deadline - time.monotonic())
            params["wait"] = min(left, MAX_WAIT_S)
            response = self.http.request(
                "GET", "/events", params=params, timeout=params["wait"] + _SLACK_S
            )
            items = response.json()["items"]
            if items or deadline - time.monotonic() <= 0.0:
                return [Event.from_dict(item) for item in items]

    def latest_cursor(self) -> int:
        return int(self.http.request("GET", "/events/latest").json()["cursor"])


def build(http: Http, _services: Any) -> RemoteEvents:
    return RemoteEvents(http)
