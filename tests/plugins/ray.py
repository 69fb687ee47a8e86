"""A real Ray head on 127.0.0.1 for the whole session, started and stopped by this fixture.

Register with ``pytest_plugins = ["tests.plugins.ray"]``. Ray stays on loopback because the
head is started with ``--node-ip-address=127.0.0.1`` and, in the environment of the head and
of this process, ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` and ``RAY_USAGE_STATS_ENABLED=0``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 90.0
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def pytest_configure(config: pytest.Config) -> None:
    """Ray reads these when it is imported, which may happen before the fixture runs."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the head and everything it started: they share the process group we created."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a Ray head (2 CPUs) running for the session."""
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)  # read by ray when it is imported: set it first
    pytest.importorskip("ray")
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    log = temp / "head.log"
    env = {**os.environ, **RAY_ENV}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                ray_bin,
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--num-cpus=2",
                f"--temp-dir={temp}",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ray head exited with {proc.returncode}:\n{log.read_text()}")
            if "Ray runtime started" in log.read_text(errors="replace"):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"ray head did not start in {STARTUP_TIMEOUT:.0f}s:\n{log.read_text()}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        if "ray" in sys.modules:
            import ray

            ray.shutdown()
        _stop(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
