"""What the benchmark scripts share: a quiet environment for the tools they start, free ports,
server processes stopped by their PID, workload scripts run in a fresh interpreter of a given
venv, and the metric-logging and search workload both sides of a tracking comparison run.

Imported by the scripts beside it (``python benchmarks/bench_x.py`` puts this folder first on
``sys.path``); not part of the installed package."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Python source prepended to the tracking workloads that loopml and MLflow run in their own
# interpreters: the same points in the same batches, and the same way of timing a search.
WORKLOAD = """
import json, random, statistics, sys, time

CFG = json.loads(sys.argv[1])
MODELS = ("lr", "rf", "xgb")


def batches(n_points, size, seed):
    # n_points (key, value, step, timestamp) points over 10 keys, in lists of ``size``
    rng = random.Random(seed)
    ts = time.time()
    out, batch = [], []
    for step in range(n_points // 10):
        for j in range(10):
            batch.append((f"k{j}", rng.random(), step, ts + step * 1e-3))
            if len(batch) == size:
                out.append(batch)
                batch = []
    if batch:
        out.append(batch)
    return out


def run_values(i, rng):
    # the params and final metrics of the i-th run of a search workload
    params = {f"p{j}": MODELS[i % 3] if j == 0 else str(rng.randint(0, 1000)) for j in range(10)}
    return params, {f"m{j}": rng.random() for j in range(10)}


def timed(search, reps, prefix="search_"):
    # two warm-up calls, then median, p90 and minimum of ``reps`` timed ones
    for _ in range(2):
        n = search()
    lat = []
    for _ in range(reps):
        t = time.perf_counter()
        n = search()
        lat.append(time.perf_counter() - t)
    lat.sort()
    return {
        f"{prefix}median_ms": round(statistics.median(lat) * 1000, 3),
        f"{prefix}p90_ms": round(lat[int(len(lat) * 0.9)] * 1000, 3),
        f"{prefix}min_ms": round(lat[0] * 1000, 3),
        f"{prefix}results": n,
        f"{prefix}reps": reps,
    }
"""


def quiet_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without LOOPML_/MLFLOW_ settings and without telemetry,
    plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        GIT_PYTHON_REFRESH="quiet",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_script(python: str, source: str, cfg: dict[str, Any], env: dict[str, str]) -> Any:
    """``source`` in a fresh interpreter ``python`` with ``cfg`` as its JSON argument; its last
    stdout line is its JSON answer."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(textwrap.dedent(source))
    try:
        proc = subprocess.run(
            [python, f.name, json.dumps(cfg)], cwd=REPO, env=env, stdout=subprocess.PIPE,
            text=True, check=False,
        )  # fmt: skip
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        first = textwrap.dedent(source).strip().splitlines()[0][:60]
        raise RuntimeError(f"{python} {first!r}... failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def version_of(python: str, distribution: str) -> str | None:
    """The installed version of ``distribution`` in the venv of ``python``."""
    done = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version('{distribution}'))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() or None


class Server:
    """A server process on a free port, in its own session (so its workers stop with it);
    ready once ``health`` answers 200; ``stop()`` ends it by its PID."""

    def __init__(self, argv: list[str], env: dict[str, str], health: str, log_file: Path) -> None:
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.url = f"http://127.0.0.1:{self.port}"
        with open(log_file, "wb") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited early; see {log_file}")
            try:
                with urllib.request.urlopen(self.url + health, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within 120 s; see {log_file}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
