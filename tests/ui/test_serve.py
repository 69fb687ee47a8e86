"""Serving the UI: the files come from the package with a strict policy, nothing else is
reachable through /ui/, and ``loopml ui`` serves the same app on loopback."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from loopml.core.settings import Settings
from loopml.server.ui import CSP
from tests.plugins.server import LOOPML_BIN, ServerProcess, free_port, store_env


def _get(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Serving files does not depend on the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'meta' / 'loopml.db'}"


def test_the_ui_files_come_from_the_package_and_nothing_else_under_ui(
    server: ServerProcess,
) -> None:
    status, headers, body = _get(server.url + "/")
    assert status == 200 and headers["Content-Security-Policy"] == CSP
    assert b'<script type="module" src="/ui/app.js">' in body
    assert b'content="off"' in body  # no --auth: the page does not ask for a session
    for name, kind in (("app.js", "text/javascript"), ("chart.js", "text/javascript"),
                       ("app.css", "text/css")):  # fmt: skip
        status, headers, body = _get(f"{server.url}/ui/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
        assert headers["X-Content-Type-Options"] == "nosniff"
    for name in ("app.js", "dom.js", "runs.js", "registry.js", "ops.js"):
        _, _, body = _get(f"{server.url}/ui/{name}")
        assert b"innerHTML" not in body and b"outerHTML" not in body and b"eval(" not in body
        outside = body.replace(b"http://www.w3.org/2000/svg", b"")  # a namespace, not fetched
        assert b"http://" not in outside and b"https://" not in outside

    for path in ("/ui/nothing.js", "/ui/..%2f__init__.py", "/ui/%2e%2e/__init__.py",
                 "/ui/__init__.py", "/ui/%2e%2e%2f%2e%2e%2fapp.py"):  # fmt: skip
        status, headers, body = _get(server.url + path)
        assert status == 404 and headers["Content-Type"] == "application/json", path
        assert b"import" not in body


def test_loopml_ui_serves_the_same_app_on_loopback_without_opening_a_browser(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "ui.log"
    env = {**store_env(settings), "BROWSER": "false"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [LOOPML_BIN, "ui", "--port", str(port), "--no-browser"],
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"loopml UI at" not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
        assert f"http://127.0.0.1:{port}/" in log.read_text()
        status, headers, body = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and headers["Content-Security-Policy"] == CSP
        status, _, body = _get(f"http://127.0.0.1:{port}/api/v1/health")
        assert status == 200 and b'"ok"' in body
    finally:
        proc.terminate()
        proc.wait(timeout=15)
