"""What a web page on another site could send: bodies that are not JSON (415), Host names that
are not this endpoint's (DNS rebinding, 421), and paths that would redirect to such a host."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest

from loopml.serving.hosts import HostCheck, host_of, normalize_allowed
from tests.serving.conftest import Server, metric

Cancer = tuple[pd.DataFrame, np.ndarray]

ROUTES = ["/predict", "/feedback", "/v2/models/cancer/infer"]


def _body(route: str, cancer: Cancer) -> dict[str, Any]:
    x = cancer[0].head(1)
    if route == "/predict":
        return {"records": x.to_dict(orient="records")}
    if route == "/feedback":
        return {"request_id": "r-1", "label": 1}
    tensor = {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": x.to_numpy().ravel()}
    return {"inputs": [{**tensor, "data": tensor["data"].tolist()}]}


# how a cross-site form or fetch without preflight can post: none of them is JSON
NOT_JSON: list[tuple[str, dict[str, Any]]] = [
    ("text/plain", {"content": b'{"records": []}', "headers": {"content-type": "text/plain"}}),
    ("form", {"data": {"records": "x"}}),
    ("multipart", {"files": {"records": ("r.json", b"{}", "application/json")}}),
    ("no content-type", {"content": b'{"records": []}'}),
    ("text/json", {"content": b"{}", "headers": {"content-type": "text/json"}}),
    ("jsonp", {"content": b"{}", "headers": {"content-type": "application/jsonp"}}),
    ("xml", {"content": b"<a/>", "headers": {"content-type": "application/xml"}}),
    ("empty type", {"content": b"{}", "headers": {"content-type": ""}}),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("case", "kwargs"), NOT_JSON, ids=[c[0] for c in NOT_JSON])
def test_a_body_that_is_not_json_is_415_naming_the_type(
    http: httpx.Client, route: str, case: str, kwargs: dict[str, Any]
) -> None:
    res = http.post(route, **kwargs)
    assert res.status_code == 415, (case, res.text)
    body = res.json()
    assert body["field"] == "content-type" and "application/json" in body["error"]
    assert body["request_id"] == res.headers["x-request-id"]


def test_a_large_body_refused_unread_leaves_the_connection_usable(
    http: httpx.Client, cancer: Cancer
) -> None:
    for _ in range(3):  # the same kept-alive connection each time
        res = http.post(
            "/predict", content=b"x" * 3_000_000, headers={"content-type": "text/plain"}
        )
        assert res.status_code == 415
        assert http.post("/predict", json=_body("/predict", cancer)).status_code == 200


JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;charset=UTF-8",
    "application/json ; charset=utf-8",
    "application/vnd.api+json",
    "application/merge-patch+json; charset=utf-8",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("ctype", JSON_TYPES)
def test_json_and_plus_json_bodies_are_served(
    http: httpx.Client, cancer: Cancer, route: str, ctype: str
) -> None:
    import orjson

    content = orjson.dumps(_body(route, cancer))
    res = http.post(route, content=content, headers={"content-type": ctype})
    assert res.status_code == 200, (ctype, res.text)


FOREIGN_HOSTS = [
    "evil.com",
    "evil.com:8080",
    "127.0.0.1.evil.com",
    "127.0.0.1.nip.io:8080",
    "localhost.evil.com",
    "localhost.",
    "evil.com:8080@127.0.0.1",
    "10.0.0.1",
    "0.0.0.0",
    "[::2]",
    "[::1]evil",
    "::1",
    "127.1",
    "localhost:http",
    "",
]
LOOPBACK_HOSTS = [
    "localhost",
    "localhost:8080",
    "LocalHost:1",
    "127.0.0.1",
    "127.0.0.1:65535",
    "127.9.8.7",
    "[::1]",
    "[::1]:8080",
    "[0:0:0:0:0:0:0:1]:80",
]


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize(("method", "route"), [("POST", "/predict"), ("GET", "/metadata")])
def test_a_foreign_host_is_refused_on_every_route(
    http: httpx.Client, cancer: Cancer, host: str, method: str, route: str
) -> None:
    kwargs: dict[str, Any] = {"json": _body(route, cancer)} if method == "POST" else {}
    res = http.request(method, route, headers={"host": host}, **kwargs)
    assert res.status_code == 421, (host, res.text)
    body = res.json()
    assert body["field"] == "host" and "--allowed-host" in body["error"]
    assert body["request_id"] == res.headers["x-request-id"]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_host_names_are_served(http: httpx.Client, cancer: Cancer, host: str) -> None:
    res = http.post("/predict", json=_body("/predict", cancer), headers={"host": host})
    assert res.status_code == 200, (host, res.text)
    assert http.get("/health", headers={"host": host}).status_code == 200


def test_a_request_without_host_is_refused(server: Server) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"421" and b"Host" in body


@pytest.mark.parametrize(
    "path", ["/predict/", "/feedback/", "/v2/models/cancer/infer/", "/health/", "/metrics/"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_trailing_slash_is_404_never_a_redirect(
    http: httpx.Client, path: str, method: str
) -> None:
    res = http.request(method, path, json={}, headers={"host": "localhost"})
    assert res.status_code == 404, res.text
    assert "location" not in res.headers and res.json()["error"]


def test_refused_requests_are_counted_by_status(http: httpx.Client) -> None:
    http.post("/predict", content=b"{}", headers={"content-type": "text/plain"})
    text = http.get("/metrics").text
    assert metric(text, "loopml_requests_total", route="/predict", status="415")


def test_the_host_check_applies_on_loopback_or_when_names_are_given() -> None:
    open_bind = HostCheck("0.0.0.0", ())
    assert open_bind.allows(b"evil.com") and open_bind.allows(None)
    named = HostCheck("0.0.0.0", (normalize_allowed("Api.Example.test"),))
    assert named.allows(b"api.example.test:8080") and named.allows(b"127.0.0.1")
    assert not named.allows(b"evil.com")
    for bind in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        loopback = HostCheck(bind, ())
        assert loopback.allows(b"localhost:1") and not loopback.allows(b"evil.com"), bind
    assert host_of("[::1]:8080") == "::1" and host_of("a:b:c") is None


@pytest.mark.parametrize(
    "name", ["http://api.example.test", "api.example.test:8080", "*.example.test", "a b", ""]
)
def test_an_allowed_host_with_scheme_port_or_wildcard_is_refused(name: str) -> None:
    from loopml.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="--allowed-host"):
        normalize_allowed(name)
