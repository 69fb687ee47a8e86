"""Fixtures of the serving tests: two registered versions of a breast-cancer classifier and
real ``loopml serve`` processes on free loopback ports, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from loopml.core.settings import Settings, load_settings
from loopml.sdk import Client
from loopml.serving.server import free_port
from tests.conftest import LOOPML_BIN


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y.to_numpy()


@pytest.fixture(scope="session")
def two_models(cancer: tuple[pd.DataFrame, np.ndarray]) -> list[tuple[Any, float]]:
    """A weak and a strong classifier, fitted on the DataFrame, with their accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = cancer
    weak = make_pipeline(StandardScaler(), LogisticRegression(C=0.0005, max_iter=2000)).fit(x, y)
    strong = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(x, y)
    return [(m, float(m.score(x, y))) for m in (weak, strong)]


def register_versions(
    client: Client, cancer: tuple[pd.DataFrame, np.ndarray], models: list[tuple[Any, float]]
) -> None:
    """cancer@1 (weak), cancer@2 (strong); production → 1."""
    x, _ = cancer
    for model, acc in models:
        client.models.register("cancer", model, input_example=x.head(5), metrics={"accuracy": acc})
    client.models.set_alias("cancer", "production", 1)


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("serving")
    return load_settings(
        env={},
        home=str(root / "home"),
        db=f"sqlite:///{root / 'meta' / 'loopml.db'}",
        blobs=str(root / "blobs"),
    )


@pytest.fixture(scope="module")
def module_client(
    module_settings: Settings,
    cancer: tuple[pd.DataFrame, np.ndarray],
    two_models: list[tuple[Any, float]],
) -> Iterator[Client]:
    c = Client(module_settings)
    register_versions(c, cancer, two_models)
    yield c
    c.close()


def env_for(settings: Settings) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    e.update(
        LOOPML_HOME=str(settings.home),
        LOOPML_DB=settings.db_url,
        LOOPML_BLOBS=settings.blobs_url,
        COLUMNS="200",
    )
    return e


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log_dir: Path

    def stop(self) -> str:
        """Stop the server (SIGINT, as Ctrl+C) and return what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            _, err = self.process.communicate(timeout=10)
        return err or ""


def start_server(
    settings: Settings,
    ref: str,
    *args: str,
    timeout: float = 60.0,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """``loopml serve REF`` in a subprocess; returns once ``/ready`` answers 200."""
    port = free_port()
    log_dir = settings.home / "monitoring"
    proc = subprocess.Popen(
        [LOOPML_BIN, "serve", ref, "--port", str(port), "--log-dir", str(log_dir), *args],
        env={**env_for(settings), **(extra_env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(f"http://127.0.0.1:{port}", proc, log_dir)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"loopml serve exited {proc.returncode}: {server.stop()}")
            try:
                if http.get(server.url + "/ready").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # the process gives no other signal that it listens
    server.stop()
    raise AssertionError(f"loopml serve {ref} was not ready within {timeout} s")


ServerFactory = Callable[..., Server]


@pytest.fixture
def serve_factory() -> Iterator[ServerFactory]:
    """Start servers in a test; every one is stopped by PID afterwards."""
    started: list[Server] = []

    def start(settings: Settings, ref: str, *args: str) -> Server:
        server = start_server(settings, ref, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(module_client: Client, module_settings: Settings) -> Iterator[Server]:
    """One endpoint serving cancer@production for a whole test module."""
    s = start_server(module_settings, "cancer@production", "--max-latency-ms", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        yield c


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (for state in other processes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def metric_values(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A Prometheus text exposition as {(sample name, labels): value}, read by the reference
    parser (so a malformed line fails the test)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample of an exposition, or None when it is absent."""
    return metric_values(text).get((name, frozenset(labels.items())))
