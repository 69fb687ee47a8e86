"""A real Ray head on 127.0.0.1 for the whole session, started with the README's command line.

Register with ``pytest_plugins = ["tests.plugins.ray"]``. The steps come from the README block
marked ``<!-- ray-steps -->`` (start the head, run ``loopml``, stop), so the README cannot drift
from what is tested. The fixture changes only what a shared test machine needs: a free port
instead of 6379, and flags that keep this head apart from any other (its own ``--temp-dir``,
two CPUs, no dashboard, which would take the fixed port 8265). It stops the head by its process
group, not with the README's ``ray stop``, which would stop every Ray process of the user.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
STEPS = re.compile(r"<!-- ray-steps:[^>]*-->\n```\n(?P<lines>.*?)```", re.S)
README_PORT = "6379"
STARTUP_TIMEOUT = 180.0
ISOLATION = ["--num-cpus=2", "--include-dashboard=false"]


@dataclass(frozen=True)
class RaySteps:
    """The README's steps: the head's environment and command, and the ``loopml`` command."""

    head_env: dict[str, str]
    head: list[str]
    run: list[str]


def readme_steps(port: int) -> RaySteps:
    """The README's Ray lines with ``port`` for 6379."""
    found = STEPS.search(README.read_text())
    assert found is not None, "README.md lost its <!-- ray-steps --> block"
    lines = [shlex.split(ln) for ln in found["lines"].splitlines() if ln.strip()]
    (start,) = [ln for ln in lines if "start" in ln and any(t == "ray" for t in ln)]
    (run,) = [ln for ln in lines if ln[0] == "loopml"]
    head_env: dict[str, str] = {}
    while "=" in start[0]:
        key, _, value = start.pop(0).partition("=")
        head_env[key] = value
    return RaySteps(
        head_env,
        [t.replace(README_PORT, str(port)) for t in start],
        [t.replace(README_PORT, str(port)) for t in run],
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a pid reused by another user's group
        return False
    return True


def stop_group(pgid: int) -> None:
    """End the head and everything it started: they share the process group we created.
    Ray's GCS may ignore SIGTERM for a while; SIGKILL follows."""
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 15.0)):
        if not _group_alive(pgid):
            return
        os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)


@dataclass(frozen=True)
class RayHead:
    address: str
    steps: RaySteps


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    """A head started as the README says, running for the session."""
    pytest.importorskip("ray")
    port = _free_port()
    steps = readme_steps(port)
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    log = temp / "head.log"
    env = {**os.environ, **steps.head_env, "RAY_USAGE_STATS_ENABLED": "0"}
    argv = [str(Path(sys.executable).with_name("ray")), *steps.head[1:]]
    argv += [*ISOLATION, f"--temp-dir={temp}"]
    with open(log, "wb") as out:
        # `ray start` without --block returns once the head runs; the head's processes stay
        # in the process group created here, which is how they are stopped.
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            code = proc.wait(timeout=STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`ray start` did not return in {STARTUP_TIMEOUT:.0f}s:\n{log.read_text()}")
        if code != 0:
            pytest.fail(f"`ray start` exited with {code}:\n{log.read_text()}")
        address = steps.run[steps.run.index("--ray-address") + 1]
        yield RayHead(address, steps)
    finally:
        if "ray" in sys.modules:
            import ray

            ray.shutdown()
        stop_group(proc.pid)


@pytest.fixture(scope="session")
def ray_address(ray_head: RayHead) -> str:
    """``127.0.0.1:PORT`` of the session's Ray head."""
    return ray_head.address
