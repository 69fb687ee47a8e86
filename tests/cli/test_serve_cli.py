"""``loopml serve`` as a user runs it: one or several workers, and clean errors."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from loopml.core.settings import Settings
from loopml.sdk import Client
from tests.conftest import run_cli
from tests.plugins.db import SQLITE_ONLY
from tests.serving.conftest import (  # noqa: F401  (fixtures)
    ServerFactory,
    cancer,
    register_versions,
    serve_factory,
    two_models,
)

Cancer = tuple[pd.DataFrame, np.ndarray]


# The CLI's server start-up is the same on every database: these run on SQLite only.
@SQLITE_ONLY
def test_serve_with_two_workers_answers_from_both(
    client: Client,
    settings: Settings,
    serve_factory: ServerFactory,  # noqa: F811
    cancer: Cancer,  # noqa: F811
    two_models: list[Any],  # noqa: F811
) -> None:
    register_versions(client, cancer, two_models)
    server = serve_factory(settings, "cancer@production", "--workers", "2")
    body = {"records": cancer[0].head(2).to_dict(orient="records")}
    ids = set()
    for _ in range(20):
        with httpx.Client(base_url=server.url) as http:  # a new connection each time
            res = http.post("/predict", json=body)
            assert res.status_code == 200 and res.json()["version"] == 1
            ids.add(res.json()["request_id"].split("-")[0])
    assert ids  # request ids carry each worker's prefix
    log = server.stop()
    assert "serving cancer@1 in each worker (cancer@production)" in log and "2 worker(s)" in log


@SQLITE_ONLY
def test_serve_a_pinned_version_and_stop_with_ctrl_c(
    client: Client,
    settings: Settings,
    serve_factory: ServerFactory,  # noqa: F811
    cancer: Cancer,  # noqa: F811
    two_models: list[Any],  # noqa: F811
) -> None:
    register_versions(client, cancer, two_models)
    server = serve_factory(settings, "cancer@2")
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/metadata").json()["version"] == 2
    log = server.stop()
    assert server.process.returncode == 0
    assert "serving cancer version 2 (cancer@2)" in log and "Traceback" not in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "nothing@production"], "'nothing'"),
        (["serve", "bad name"], "invalid model reference"),
        (["serve", "m@production", "--log-sample-rate", "2"], "--log-sample-rate"),
        (["serve", "m@production", "--workers", "0"], "--workers"),
    ],
)
@SQLITE_ONLY
def test_serve_errors_exit_1_before_listening(
    env: dict[str, str], args: list[str], message: str
) -> None:
    res = run_cli(env, *args)
    assert res.returncode == 1 and message in res.stderr and "Traceback" not in res.stderr
