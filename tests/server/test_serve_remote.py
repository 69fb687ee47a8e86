"""``loopml serve NAME@ALIAS`` with only ``LOOPML_URI`` set: the endpoint loads its model
through the server and swaps versions when the alias moves, following the server's events."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from loopml.connect import connect
from loopml.core.settings import Settings
from tests.conftest import LOOPML_BIN
from tests.plugins.server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(120)


def _wait(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll ``condition`` (state in another process) until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # the endpoint gives no other signal
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_serve_follows_alias_moves_through_the_server(
    server: ServerProcess, remote_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"a": [0.0, 1.0, 0.5, 0.2], "b": [1.0, 0.0, 0.5, 0.9]})
    local = connect(settings)
    try:
        for labels in ([0, 1, 1, 0], [1, 0, 0, 1]):
            model = LogisticRegression().fit(x, labels)
            local.models.register("m", model, input_example=x.head(2))
        local.models.set_alias("m", "production", 1)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_dir = tmp_path / "predictions"
        endpoint = subprocess.Popen(
            [LOOPML_BIN, "serve", "m@production", "--port", str(port), "--log-dir", str(log_dir)],
            env=remote_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait(lambda: endpoint.poll() is not None or _ready(url), 60, "the endpoint")
            assert endpoint.poll() is None, endpoint.communicate()[1]
            row = {"a": 0.9, "b": 0.1}
            first = httpx.post(url + "/predict", json={"records": [row]}).json()
            assert first["version"] == 1

            local.models.set_alias("m", "production", 2)
            moved = time.monotonic()
            _wait(lambda: httpx.get(url + "/metadata").json()["version"] == 2, 20, "the hot swap")
            assert time.monotonic() - moved < 10
            second = httpx.post(url + "/predict", json={"records": [row]}).json()
            assert second["version"] == 2
            assert second["predictions"] != first["predictions"]
        finally:
            if endpoint.poll() is None:
                endpoint.send_signal(signal.SIGINT)
            try:
                _, err = endpoint.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                endpoint.kill()
                _, err = endpoint.communicate()
        assert "Traceback" not in err, err
    finally:
        local.close()
