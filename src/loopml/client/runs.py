"""``Runs`` over HTTP (example of a remote service module: ``build(http, services)``)."""

from __future__ import annotations

import builtins
from typing import Any

from loopml.api.runs import Experiment
from loopml.client.http import Http


class RemoteRuns:
    def __init__(self, http: Http) -> None:
        self.http = http

    def create_experiment(self, name: str) -> Experiment:
        return self.http.send("POST", "/experiments", {"name": name}, Experiment)

    def get_experiment(self, name: str) -> Experiment:
        return self.http.get(f"/experiments/{name}", Experiment)

    def list_experiments(self) -> builtins.list[Experiment]:
        return list(self.http.pages("/experiments", Experiment))


def build(http: Http, _services: Any) -> RemoteRuns:
    return RemoteRuns(http)
