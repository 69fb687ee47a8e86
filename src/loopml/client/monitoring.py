"""``Monitoring`` over HTTP."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from loopml.api.monitoring import ColumnOptions
from loopml.api.monitors import MonitorResult, MonitorSpec
from loopml.client.http import Http
from loopml.core.errors import InvalidInput


class RemoteMonitoring:
    def __init__(self, http: Http) -> None:
        self.http = http

    def add(
        self,
        deployment: str,
        *,
        reference: str | None = None,
        window: str | float = "1h",
        every: str | float | None = None,
        rules: builtins.list[str] | tuple[str, ...] = (),
        columns: Mapping[str, ColumnOptions] | None = None,
        share_threshold: float = 0.5,
        target: str | None = None,
    ) -> MonitorSpec:
        body = {
            "deployment": deployment,
            "reference": reference,
            "window": window,
            "every": every,
            "rules": list(rules),
            "columns": dict(columns or {}),
            "share_threshold": share_threshold,
            "target": target,
        }
        return self.http.send("POST", "/monitors", body, MonitorSpec)

    def list(self) -> builtins.list[MonitorSpec]:
        return builtins.list(self.http.pages("/monitors", MonitorSpec))

    def get(self, deployment: str) -> MonitorSpec:
        return self.http.get(f"/monitors/{_ref(deployment)}", MonitorSpec)

    def remove(self, deployment: str) -> int:
        answer = self.http.request("DELETE", f"/monitors/{_ref(deployment)}").json()
        return int(answer["results"])

    def run(
        self,
        deployment: str,
        *,
        window: str | float | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
    ) -> MonitorResult:
        body = {"window": window, "since": since, "until": until}
        return self.http.send("POST", f"/monitors/{_ref(deployment)}/run", body, MonitorResult)

    def results(self, deployment: str, limit: int = 100) -> builtins.list[MonitorResult]:
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, got {limit}")
        return builtins.list(
            self.http.pages(f"/monitors/{_ref(deployment)}/results", MonitorResult, most=limit)
        )


def _ref(deployment: str) -> str:
    """A deployment reference as one path segment (a ``/`` in it cannot reach another route)."""
    return quote(deployment, safe="@")


def build(http: Http, _services: Any) -> RemoteMonitoring:
    return RemoteMonitoring(http)
