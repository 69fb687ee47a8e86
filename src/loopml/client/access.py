"""``Access`` (tokens) over HTTP: an admin's token manages the server's tokens."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from loopml.api.access import NewToken, Principal, Role, TokenInfo
from loopml.client.http import Http


class RemoteAccess:
    def __init__(self, http: Http) -> None:
        self.http = http

    def create(self, role: str | Role, name: str | None = None) -> NewToken:
        return self.http.send("POST", "/tokens", {"role": str(role), "name": name}, NewToken)

    def list(self) -> builtins.list[TokenInfo]:
        return builtins.list(self.http.pages("/tokens", TokenInfo))

    def revoke(self, name: str) -> TokenInfo:
        return self.http.send("DELETE", f"/tokens/{quote(name, safe='')}", None, TokenInfo)

    def authenticate(self, token: str) -> Principal:
        answer = self.http.request("GET", "/session", headers={"Authorization": f"Bearer {token}"})
        data = answer.json()
        return Principal(name=data["name"], role=Role(data["role"]))


def build(http: Http, _services: Any) -> RemoteAccess:
    return RemoteAccess(http)
