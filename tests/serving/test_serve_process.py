"""``loopml serve`` as a process: a port in use is a one-line error, and with ``--workers N``
the metrics of every worker add up on ``/metrics`` whichever worker answers."""

from __future__ import annotations

import concurrent.futures
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from loopml.core.settings import Settings
from loopml.sdk import Client
from tests.conftest import run_cli
from tests.serving.conftest import Server, env_for, metric, start_server, wait_until


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_serve_on_a_port_in_use_says_which_and_exits_1(
    module_settings: Settings, host: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_cli(
            env_for(module_settings), "serve", "cancer@1", "--host", host, "--port", str(port)
        )
    assert res.returncode == 1
    assert (
        res.stderr == f"error: port {port} on {host} is already in use; pick another with --port\n"
    )


def test_serve_on_an_address_of_another_machine_says_so(module_settings: Settings) -> None:
    res = run_cli(env_for(module_settings), "serve", "cancer@1", "--host", "192.0.2.1")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: 192.0.2.1 is not an address of this machine")


@pytest.fixture(scope="module")
def workers(
    module_client: Client, module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    """``loopml serve --workers 2`` with two allowed host names, and its temporary folder."""
    temp = tmp_path_factory.mktemp("tmp")
    server = start_server(
        module_settings,
        "cancer@production",
        "--workers",
        "2",
        "--allowed-host",
        "api.example.test",
        "--allowed-host",
        "[FD00::5]",
        extra_env={"TMPDIR": str(temp)},
    )
    try:
        yield server, temp
    finally:
        server.stop()


def _worker(res: httpx.Response) -> str:
    """The worker that answered: request ids it makes start with its own prefix."""
    return res.headers["x-request-id"].split("-")[0]


def test_metrics_add_up_over_workers_whichever_answers(
    workers: tuple[Server, Path], cancer: tuple[pd.DataFrame, np.ndarray]
) -> None:
    server, temp = workers
    assert len(list(temp.iterdir())) == 1  # the workers' private metrics folder
    records = cancer[0].head(2).to_dict(orient="records")
    # no keep-alive: every request is a new connection, which the kernel hands to either
    # worker (one client: creating an httpx client costs more than a request)
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=server.url, timeout=30, limits=fresh) as http:
        seen: set[str] = set()
        wait_until(
            lambda: seen.add(_worker(http.get("/ready"))) or len(seen) == 2,
            timeout=60,
            what="both workers answering",
        )

        def one(_i: int) -> None:
            res = http.post("/predict", json={"records": records})
            assert res.status_code == 200, res.text

        n = 60
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            list(pool.map(one, range(n)))
        scraped_by: set[str] = set()
        for _ in range(200):  # until each worker has answered a scrape
            res = http.get("/metrics")
            scraped_by.add(_worker(res))
            text = res.text
            assert metric(text, "loopml_requests_total", route="/predict", status="200") == n
            assert metric(text, "loopml_request_rows_count") == n
            assert metric(text, "loopml_request_rows_sum") == 2 * n
            assert metric(text, "loopml_model_version", model="cancer") == 1
            if len(scraped_by) == 2:
                break
        assert len(scraped_by) == 2, "both workers answered /metrics"
        wait_until(
            lambda: metric(http.get("/metrics").text, "loopml_prediction_log_rows_total") == 2 * n,
            what="every worker's logged rows on /metrics",
        )


def test_allowed_hosts_reach_every_worker(workers: tuple[Server, Path]) -> None:
    server, _ = workers
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=server.url, timeout=30, limits=fresh) as http:
        for _ in range(4):  # new connections: either worker
            for host in ("api.example.test", "API.example.test:443", "[fd00::5]:80", "localhost"):
                assert http.get("/health", headers={"host": host}).status_code == 200, host
            for host in ("example.test", "x.api.example.test", "evil.com"):
                assert http.get("/health", headers={"host": host}).status_code == 421, host


def test_the_metrics_folder_is_removed_when_the_endpoint_stops(
    workers: tuple[Server, Path],
) -> None:
    server, temp = workers
    server.stop()
    assert not list(temp.iterdir())
