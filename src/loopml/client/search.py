"""``Search`` over HTTP: ``GET /runs`` (:mod:`loopml.server.routes.search`), page by page."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopml.api import codec
from loopml.api.runs import Run
from loopml.client.http import Http
from loopml.core.errors import InvalidInput

PAGE = 1000
MAX_LIMIT = 50_000  # the search's own cap (loopml.tracking.search.MAX_LIMIT)


@dataclass(frozen=True)
class RunPage:
    """One page of ``GET /runs``."""

    items: builtins.list[Run]
    next_page_token: str | None = None


class RemoteSearch:
    def __init__(self, http: Http) -> None:
        self.http = http

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[Run]:
        """Runs matching ``filter`` in the order asked, fetched a page at a time up to
        ``limit``."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
        query: dict[str, Any] = {}
        if experiment is not None:
            query["experiment"] = [experiment] if isinstance(experiment, str) else list(experiment)
        if filter is not None:
            query["filter"] = filter
        if order_by:
            query["order_by"] = [order_by] if isinstance(order_by, str) else list(order_by)
        found: builtins.list[Run] = []
        while len(found) < limit:
            query["limit"] = min(PAGE, limit - len(found))
            answer = self.http.request("GET", "/runs", params=query)
            data = codec.decode(answer.content, RunPage)
            found += data.items
            token = data.next_page_token
            if not token:
                break
            query["page_token"] = token
        return found

    def list_runs(
        self, experiment: str | Sequence[str] | None = None, limit: int = 100
    ) -> builtins.list[Run]:
        return self.search_runs(experiment, None, None, limit)


def build(http: Http, _services: Any) -> RemoteSearch:
    return RemoteSearch(http)
