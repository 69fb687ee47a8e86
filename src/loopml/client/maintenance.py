"""``Maintenance`` over HTTP: the server checks and cleans its own stores."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from loopml.api import codec
from loopml.api.maintenance import FsckSummary, GcSummary
from loopml.api.runs import LostRun
from loopml.client.http import Http

_LONG_S = 3600.0  # fsck and gc read the whole store: a long timeout


class RemoteMaintenance:
    def __init__(self, http: Http) -> None:
        self.http = http

    def fsck(self, progress: Callable[[int], None] | None = None) -> FsckSummary:
        """Runs on the server; ``progress`` is not called (nothing is read here)."""
        response = self.http.request("POST", "/maintenance/fsck", timeout=_LONG_S)
        return codec.decode(response.content, FsckSummary)

    def gc(
        self,
        grace_s: float | None = None,
        dry_run: bool = False,
        on_wait: Callable[[], None] | None = None,
    ) -> GcSummary:
        """Runs on the server (which waits for running writes itself; ``on_wait`` is not
        called)."""
        body = {"grace_s": grace_s, "dry_run": dry_run}
        response = self.http.request("POST", "/maintenance/gc", json=body, timeout=_LONG_S)
        return codec.decode(response.content, GcSummary)

    def reap_runs(self) -> builtins.list[LostRun]:
        answer = self.http.send("POST", "/maintenance/reap/runs", {}, dict[str, Any])
        return codec.from_builtins(answer["runs"], builtins.list[LostRun])

    def reap_pipelines(self) -> builtins.list[str]:
        answer = self.http.send("POST", "/maintenance/reap/pipelines", {}, dict[str, Any])
        return [str(i) for i in answer["pipelines"]]


def build(http: Http, _services: Any) -> RemoteMaintenance:
    return RemoteMaintenance(http)
