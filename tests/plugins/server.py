"""A real ``loopml server`` process on a free loopback port, over the test's own stores.

``start_server(env, *args)`` starts one and waits until ``/api/v1/health`` answers; the
``server`` fixture gives one over the ``settings`` of the test (SQLite or PostgreSQL) and
stops it by PID afterwards. ``remote_env`` is a ``loopml`` CLI environment pointing at it.

``start_server`` runs the installed ``loopml`` command; given a ``launcher`` (the session
fixture of that name, :mod:`tests.plugins.launcher`) it forks the process from one that has
the server's modules imported already: still a process of its own over the test's stores, a
second or so sooner. The ``server`` fixture and the contract suite's remote backend use it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopml.core.settings import Settings
from tests.plugins.launcher import Launched, Launcher

STARTUP_TIMEOUT = 60.0
LOOPML_BIN = str(Path(sys.executable).with_name("loopml"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A running server: its address, process and log file."""

    url: str
    proc: subprocess.Popen[bytes] | Launched
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """kill -9, for crash tests."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _answers(url: str) -> bool:
    return _health_pid(url) is not None


def _health_pid(url: str) -> int | None:
    """The pid in the health answer at ``url``, or None while nothing healthy answers."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            if response.status != 200:
                return None
            return int(json.loads(response.read()).get("pid", -1))
    except urllib.error.HTTPError as exc:
        exc.close()
        return None
    except (OSError, ValueError):
        return None


def store_env(settings: Settings) -> dict[str, str]:
    """A process environment opening the same stores as ``settings`` (no LOOPML_URI); the
    S3 endpoint a test set (a moto server) is kept."""
    keep = ("LOOPML_S3_ENDPOINT_URL",)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_") or k in keep}
    env.update(
        LOOPML_HOME=str(settings.home),
        LOOPML_DB=settings.db_url,
        LOOPML_BLOBS=settings.blobs_url,
        COLUMNS="200",
    )
    return env


def start_server(
    env: dict[str, str], log: Path, *args: str, launcher: Launcher | None = None
) -> ServerProcess:
    """``loopml server --port FREE *args`` under ``env``; returns once it answers. A free port
    can be taken by another test's process between the check and the bind (tests run in
    parallel): the health answer names its pid, and another process's answer means a new port.
    With ``launcher``, the process is forked from it instead of started from scratch."""
    for _attempt in range(5):
        server = _start_once(env, log, launcher, *args)
        if server is not None:
            return server
    pytest.fail(
        f"loopml server found no free port in 5 attempts:\n{log.read_text(errors='replace')}"
    )


def _start_once(
    env: dict[str, str], log: Path, launcher: Launcher | None, *args: str
) -> ServerProcess | None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = ["server", "--port", str(port), *args]
    proc: subprocess.Popen[bytes] | Launched
    if launcher is not None:
        proc = launcher.launch(argv, env, log)
    else:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [LOOPML_BIN, *argv],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    server = ServerProcess(url, proc, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        pid = _health_pid(f"{url}/api/v1/health")
        if pid is not None:
            if pid == proc.pid:
                return server
            server.kill()  # another test's server holds this port: ours cannot bind it
            return None
        try:
            proc.wait(timeout=0.05)  # the poll interval; notices an early exit
        except subprocess.TimeoutExpired:
            continue
        if "already in use" in server.output():
            return None  # taken between the check and the bind: try another port
        pytest.fail(f"loopml server exited with {proc.returncode}:\n{server.output()}")
    server.kill()
    pytest.fail(f"loopml server did not answer within {STARTUP_TIMEOUT:.0f}s:\n{server.output()}")


@pytest.fixture(scope="session")
def launcher() -> Iterator[Launcher]:
    """This test process's launcher of ``loopml`` server processes, ended (by PID, with any
    child left) at the end of the session."""
    running = Launcher()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def server(settings: Settings, tmp_path: Path, launcher: Launcher) -> Iterator[ServerProcess]:
    """A ``loopml server`` (no in-process controller) over the test's stores."""
    running = start_server(
        store_env(settings), tmp_path / "server.log", "--no-controller", launcher=launcher
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def remote_env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    """Environment for a ``loopml`` CLI process that talks to ``server`` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(
        LOOPML_URI=server.url,
        LOOPML_HOME=str(tmp_path / "client-home"),
        COLUMNS="200",
    )
    return env
