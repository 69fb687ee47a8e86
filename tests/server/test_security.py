"""Bad input and security over a real ``loopml server --auth`` (SQLite and PostgreSQL): path
parameters of every route in the OpenAPI document attacked with traversal, encoding, NUL,
backslash and separator tricks; malformed, mistyped, deep and oversized bodies; paths that try
to slip past the role check. Every answer is a 4xx with a JSON error, and nothing is written.

Requests go out through ``http.client``, which sends the target exactly as given (httpx would
normalize ``..`` and re-encode)."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from loopml.core.settings import Settings
from loopml.meta.tables import metadata
from loopml.sdk import Client
from tests.plugins.server import ServerProcess, start_server, store_env

pytestmark = pytest.mark.timeout(240)

API = "/api/v1"

# Path parameter values, written as they go on the wire (already percent-encoded where needed).
EVIL = [
    "..",
    "%2e%2e",
    "%2E%2E%2F",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "%252e%252e",
    "..%252f..%252fetc%252fpasswd",
    "%2fetc%2fpasswd",
    "..%5c..%5cwindows",
    "a%5cb",
    "a\\b",
    "%00",
    "a%00b",
    "a%2500b",
    "a%23b",
    "a%3fb",
    "a;b",
    "a%3bb",
    "%2e",
    ".hidden",
    "C:%5cwindows",
    "%c0%ae%c0%ae%c0%af",
    "%ff%fe",
    "%20a",
    "x" * 300,
    "../../etc/passwd",
]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Target:
    server: ServerProcess
    tokens: dict[str, str]
    client: Client

    def send(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        *,
        role: str | None = "admin",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """``method target`` sent byte for byte as given."""
        where = urlsplit(self.server.url)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        sent = {"Content-Type": "application/json"} if body is not None else {}
        if role is not None:
            sent["Authorization"] = f"Bearer {self.tokens[role]}"
        sent.update(headers or {})
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            if body is not None and "Content-Length" not in sent:
                sent["Content-Length"] = str(len(body))
            for key, value in sent.items():
                conn.putheader(key, value)
            conn.endheaders(body)
            response = conn.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            conn.close()

    def rows(self) -> dict[str, int]:
        """How many rows each table holds (to prove nothing was written)."""
        with self.client.stores.meta.read() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables
            }


@pytest.fixture
def target(settings: Settings, tmp_path: Path) -> Iterator[Target]:
    client = Client(settings)
    tokens = {r: client.services.access.create(r, r).token for r in ("reader", "writer", "admin")}
    client.services.runs.create_experiment("exp")
    running = start_server(
        store_env(settings), tmp_path / "server.log", "--auth", "--no-controller"
    )
    try:
        yield Target(running, tokens, client)
    finally:
        running.stop()
        client.close()


def assert_refused(answer: Answer, what: str) -> None:
    assert 400 <= answer.status < 500, f"{what}: {answer.status} {answer.body[:300]!r}"
    assert answer.headers.get("content-type", "").startswith("application/json"), what
    body = answer.json()
    assert isinstance(body.get("error"), str) and body["error"], what
    assert "Traceback" not in body["error"], what


def _operations(target: Target) -> list[tuple[str, str]]:
    doc = target.send("GET", f"{API}/openapi.json").json()
    found = []
    for path, ops in doc["paths"].items():
        if "{" not in path:
            continue
        for method in ops:
            if method in ("get", "post", "put", "delete", "patch"):
                found.append((method.upper(), path))
    return found


def _body_for(method: str, path: str) -> tuple[bytes | None, dict[str, str]]:
    if method not in ("POST", "PUT", "PATCH"):
        return None, {}
    if path.startswith(f"{API}/chunks"):
        return b"x", {"Content-Type": "application/octet-stream"}
    return b"{}", {}


def test_path_parameters_with_tricks_are_refused_on_every_route(target: Target) -> None:
    operations = _operations(target)
    assert ("DELETE", f"{API}/tokens/{{name}}") in operations
    assert ("GET", f"{API}/experiments/{{name}}") in operations
    before = target.rows()
    for method, template in operations:
        for value in EVIL:
            path = re.sub(r"\{[^}]+\}", lambda _m, v=value: v, template)  # type: ignore[misc]
            body, headers = _body_for(method, template)
            answer = target.send(method, path, body, headers=headers)
            assert_refused(answer, f"{method} {path}")
    assert target.rows() == before
    assert target.client.services.access.authenticate(target.tokens["admin"]).name == "admin"


def test_names_in_bodies_with_tricks_are_refused(target: Target) -> None:
    before = target.rows()
    names: list[Any] = [
        "..",
        "../x",
        "/etc/passwd",
        "a/b",
        "a\\b",
        "a\x00b",
        "a#b",
        "a?b",
        "a;b",
        "%2e%2e%2f",
        "%252e",
        "x" * 129,
        "x" * 100_000,
        "",
        " ",
        ".",
        "-x",
        5,
        None,
        ["a"],
        {"a": 1},
        True,
    ]
    for name in names:
        for path, body in (
            (f"{API}/experiments", {"name": name}),
            (f"{API}/tokens", {"role": "reader", "name": name}),
        ):
            if name is None and path.endswith("/tokens"):
                continue  # no name: one is made up (ROLE-xxxxxx)
            answer = target.send("POST", path, json.dumps(body).encode())
            assert_refused(answer, f"POST {path} {str(name)[:40]!r}")
    for role in ("root", "", "ADMIN", 1, None):
        answer = target.send("POST", f"{API}/tokens", json.dumps({"role": role}).encode())
        assert_refused(answer, f"role {role!r}")
    assert target.rows() == before


def test_malformed_deep_and_oversized_bodies_are_refused(target: Target) -> None:
    before = target.rows()
    bad_bodies = [
        b"{",
        b"",
        b"not json",
        b"null",
        b"[]",
        b'"name"',
        b"{'name': 'x'}",
        b'{"name": "x"',
        b'{"name": "x"} trailing',
        b'{"name": "\xff\xfe"}',
        b'{"name": "x", "name": 5}',
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b"\x00\x00",
        b'{"name": "a\\u0000b", "token": "lml_\\u0000", "role": "reader\\u0000"}',
        b'{"name": "a\x00b"}',
        b"\xef\xbb\xbf{}",
    ]
    for path in (f"{API}/experiments", f"{API}/tokens", f"{API}/session"):
        for body in bad_bodies:
            answer = target.send("POST", path, body)
            assert_refused(answer, f"POST {path} {body[:30]!r}")
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            answer = target.send("POST", path, b'{"name": "x"}', headers={"Content-Type": ctype})
            assert answer.status == 415 and answer.json()["field"] == "content-type"
    # A declared length over the limit is refused before the body is read.
    claimed = target.send(
        "POST", f"{API}/experiments", b"{}", headers={"Content-Length": str(2**40)}
    )
    assert claimed.status == 413 and claimed.json()["field"] == "body"
    for query in (
        "limit=0",
        "limit=100000",
        "limit=-1",
        "limit=x",
        "page_token=%2e%2e",
        "page_token=" + "A" * 5000,
    ):
        assert_refused(target.send("GET", f"{API}/experiments?{query}"), query)
    assert target.rows() == before


def test_a_streamed_body_over_the_limit_is_refused(target: Target) -> None:
    """A chunked body with no Content-Length is counted as it arrives."""
    where = urlsplit(target.server.url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    piece = b" " * (1 << 20)

    def stream() -> Iterator[bytes]:
        yield b'{"name": "big", "pad": "'
        for _ in range(70):  # 70 MiB, over the 64 MiB default
            yield piece
        yield b'"}'

    before = target.rows()
    try:
        conn.request(
            "POST",
            f"{API}/experiments",
            body=stream(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {target.tokens['admin']}",
            },
            encode_chunked=True,
        )
        response = conn.getresponse()
        status, body = response.status, response.read()
    except (BrokenPipeError, ConnectionResetError):
        status, body = 413, b'{"error": "closed while sending"}'
    finally:
        conn.close()
    assert status == 413, body[:200]
    assert target.rows() == before


def test_paths_that_try_to_slip_past_the_role_check(target: Target) -> None:
    tricks = [
        "//tokens",
        "/./tokens",
        "/x/../tokens",
        "/experiments/../tokens",
        "/%74okens",
        "/tokens/",
        "/tokens?x=1",
        "/tokens;x",
        "/tokens%00",
        "/tokens%2f",
        "/TOKENS",
        "/tokens#x",
        "/%2e/tokens",
        "/%2e%2e/v1/tokens",
    ]
    for trick in tricks:
        answer = target.send("GET", API + trick, role="reader")
        assert 400 <= answer.status < 500, (trick, answer.status, answer.body[:200])
        assert b"lml_" not in answer.body and b'"items"' not in answer.body, trick
        for role in ("writer", "reader"):
            deleted = target.send(
                "DELETE", API + trick.replace("tokens", "tokens/admin"), role=role
            )
            assert 400 <= deleted.status < 500, (trick, deleted.status)
    outside = target.send("GET", "/api/v1/../api/v1/tokens", role="reader")
    assert 400 <= outside.status < 500
    assert target.client.services.access.authenticate(target.tokens["admin"]).name == "admin"
    assert [t.revoked_at for t in target.client.services.access.list()] == [None, None, None]


def test_file_paths_of_a_real_version_stay_inside_the_store(target: Target, tmp_path: Path) -> None:
    """Traversal through the file route of a dataset version that exists (so the name and
    number pass and the path itself is what is checked), next to a secret outside the store."""
    import blake3

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("hello")
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    target.client.datasets.push("d", folder)
    base = f"{API}/datasets/d/versions/1/files"
    good = target.send("GET", f"{base}/a.txt", role="reader")
    assert good.status == 200 and good.body == b"hello"
    assert good.headers["content-disposition"].startswith("attachment")
    assert good.headers["x-content-type-options"] == "nosniff"
    secret_abs = str(tmp_path / "secret.txt").replace("/", "%2f")
    tricks = [
        "../secret.txt",
        "../../secret.txt",
        "..%2fsecret.txt",
        "%2e%2e%2f%2e%2e%2fsecret.txt",
        "%252e%252e%252fsecret.txt",
        "a.txt%2f..%2f..%2f..%2fsecret.txt",
        "..%5c..%5csecret.txt",
        "..\\..\\secret.txt",
        secret_abs,
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "a.txt%00.png",
        "a.txt;.png",
        "a.txt%3f",
        "x" * 5000,
    ]
    before = target.rows()
    for trick in tricks:
        answer = target.send("GET", f"{base}/{trick}", role="reader")
        assert_refused(answer, trick)
        assert b"TOPSECRET" not in answer.body and b"root:" not in answer.body, trick
    # a chunk whose bytes do not match its digest is refused and not stored
    digest = blake3.blake3(b"the real bytes").hexdigest()
    forged = target.send(
        "PUT",
        f"{API}/chunks/{digest}",
        b"other bytes",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_refused(forged, "forged chunk")
    missing = target.send(
        "POST", f"{API}/chunks/missing", json.dumps({"digests": [digest]}).encode()
    )
    assert missing.status == 200 and missing.json()["missing"] == [digest]
    assert target.rows() == before
