"""``Deployments`` over HTTP."""

from __future__ import annotations

import builtins
from typing import Any

from loopml.api.deployments import Deployment, GateResult
from loopml.api.models import ModelVersion
from loopml.client.http import Http
from loopml.core.names import validate_name


class RemoteDeployments:
    def __init__(self, http: Http) -> None:
        self.http = http

    def deploy(
        self,
        name: str,
        *,
        select: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        gate: str | None = None,
        to: str = "production",
    ) -> Deployment:
        body = {"select": select, "version": version, "alias": alias, "gate": gate, "to": to}
        return self.http.send("POST", f"/deployments/{_name(name)}", body, Deployment)

    def check(
        self,
        name: str,
        *,
        select: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        gate: str | None = None,
        to: str = "production",
    ) -> tuple[ModelVersion, GateResult]:
        body = {"select": select, "version": version, "alias": alias, "gate": gate, "to": to}
        answer = self.http.send("POST", f"/deployments/{_name(name)}/check", body, dict[str, Any])
        from loopml.api import codec

        return (
            codec.from_builtins(answer["version"], ModelVersion),
            codec.from_builtins(answer["gate"], GateResult),
        )

    def rollback(self, name: str, to: str = "production") -> Deployment:
        return self.http.send(
            "POST", f"/deployments/{_name(name)}/rollback", {"to": to}, Deployment
        )

    def history(
        self, name: str, to: str | None = None, limit: int = 100
    ) -> builtins.list[Deployment]:
        params = {} if to is None else {"to": to}
        return list(
            self.http.pages(f"/deployments/{_name(name)}/history", Deployment, params, most=limit)
        )


def _name(name: str) -> str:
    """A model name checked here, so a bad one never becomes a different URL."""
    validate_name(name, "model name")
    return name


def build(http: Http, _services: Any) -> RemoteDeployments:
    return RemoteDeployments(http)
