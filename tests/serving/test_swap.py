"""Hot swap under load: the alias moves twice while a client keeps sending requests; no request
fails and every answer comes from the version it names."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx
import numpy as np
import pandas as pd

from loopml.core.settings import Settings
from loopml.sdk import Client
from tests.serving.conftest import ServerFactory, register_versions, wait_until

Cancer = tuple[pd.DataFrame, np.ndarray]


class Load:
    """Client threads sending requests until stopped; records (status, version, correct)."""

    def __init__(self, url: str, body: dict[str, Any], expected: dict[int, list[int]]) -> None:
        self.url, self.body, self.expected = url, body, expected
        self.results: list[tuple[int, int | None, bool]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop) for _ in range(4)]

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    res = http.post("/predict", json=self.body)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                if res.status_code != 200:
                    self.results.append((res.status_code, None, False))
                    continue
                out = res.json()
                ok = out["predictions"] == self.expected.get(out["version"])
                self.results.append((200, out["version"], ok))

    def versions(self) -> set[int | None]:
        return {v for _, v, _ in self.results[-20:]}

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def test_alias_moves_twice_under_load_without_a_failed_request(
    client: Client,
    settings: Settings,
    serve_factory: ServerFactory,
    cancer: Cancer,
    two_models: list[Any],
) -> None:
    register_versions(client, cancer, two_models)
    x = cancer[0]
    # rows on which the two versions disagree, so an answer shows which model computed it
    weak, strong = (m.predict(x) for m, _ in two_models)
    rows = np.flatnonzero(weak != strong)[:5]
    assert len(rows) > 0
    body = {"records": x.iloc[rows].to_dict(orient="records")}
    expected = {1: weak[rows].tolist(), 2: strong[rows].tolist()}
    server = serve_factory(settings, "cancer@production", "--log-sample-rate", "0.5")

    with Load(server.url, body, expected) as load:
        wait_until(lambda: len(load.results) > 50, what="requests before the first move")
        client.deployments.deploy("cancer", version=2, gate="accuracy >= production")
        wait_until(lambda: load.versions() == {2}, timeout=20, what="version 2 to be served")
        client.deployments.rollback("cancer")
        wait_until(lambda: load.versions() == {1}, timeout=20, what="version 1 again")
        n = len(load.results)
        wait_until(lambda: len(load.results) > n + 50, what="requests after the second move")

    assert load.errors == []
    statuses = {s for s, _, _ in load.results}
    assert statuses == {200}, statuses
    assert all(ok for _, _, ok in load.results), "an answer did not come from the version it names"
    seen = [v for _, v, _ in load.results]
    changes = [b for a, b in itertools.pairwise(seen) if a != b]
    assert 2 in changes and 1 in changes
    with httpx.Client(base_url=server.url) as http:
        metrics = http.get("/metrics").text
        assert "loopml_model_swaps_total 2" in metrics
        assert http.get("/metadata").json()["version"] == 1
