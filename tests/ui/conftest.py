"""One store per module filled through the SDK, a real ``loopml server`` over it, and one
headless Chromium (Debian's, driven by Playwright) shared by the module's tests.

Which pages are tested follows which ``/api/v1`` routes the server has: a page whose routes
are not served yet is not generated (see ``served``), so the suite grows with the API."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.api.triggers import TriggerSpec
from loopml.core.settings import Settings, load_settings
from loopml.sdk import Client
from tests.monitoring.conftest import FEATURES, log_traffic, make_data, train
from tests.plugins.server import ServerProcess, start_server, store_env

EVIL = "<img src=x onerror=alert(1)>"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _served() -> set[tuple[str, str]]:
    from loopml.server.routes import ROUTERS

    out = set()
    for router in ROUTERS:
        for route in router.routes:
            path = re.sub(r"\{[^}]*\}", "{}", getattr(route, "path", ""))
            for method in getattr(route, "methods", ()) or ():
                out.add((method, path))
    return out


SERVED = _served()


def served(*routes: str) -> bool:
    """Whether the app serves every route, given as ``"GET /runs/{}"``."""
    return all(tuple(r.split(" ", 1)) in SERVED for r in routes)


PIPELINE = """
from loopml.pipelines import pipeline, step


@step
def prepare(rows: int):
    print(f"preparing {rows} rows")
    return list(range(rows))


@step
def total(values):
    return sum(values)


@step
def count(values):
    return len(values)


@pipeline
def sums(rows: int = 5):
    values = prepare(rows)
    total(values)
    count(values)
"""


@dataclass
class Store:
    """What the module's store holds, for the assertions."""

    settings: Settings
    run_ids: dict[str, str] = field(default_factory=dict)
    pipeline_run: str | None = None


def fill(client: Client, folder: Path) -> Store:
    """Datasets, runs with metric curves (one named like HTML), models, a deployment, a monitor
    with a result, a trigger with a job, and a pipeline run: every page has something."""
    from sklearn.linear_model import LogisticRegression

    store = Store(client.settings)
    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 300),
            "income": rng.normal(50, 15, 300),
            "label": rng.integers(0, 2, 300),
        }
    )
    client.datasets.push("churn-data", data, message="first")
    client.datasets.push("churn-data", data.assign(income=data.income + 5), message="<b>second</b>")
    for i in range(8):
        name = EVIL if i == 3 else f"run-{i}"
        with client.tracking.start_run(
            "churn", name, params={"C": str(i + 1), "model": "lr" if i % 2 else "rf"}
        ) as run:
            run.log_input("churn-data@1")
            points = [("loss", 1 / (s + 1 + i), s) for s in range(20)]
            points += [("accuracy", 0.5 + 0.02 * s + 0.01 * i, s) for s in range(20)]
            run.log_metric_batch(points)
        store.run_ids[name] = run.id
    model = LogisticRegression().fit(data[["age", "income"]], data["label"])
    last = store.run_ids["run-7"]
    client.models.register("churn", model, run=last, metrics={"accuracy": 0.8})
    client.models.register("churn", model, run=last, metrics={"accuracy": 0.85})
    client.models.set_alias("churn", "production", 1)
    client.deployments.deploy("churn", version=2, gate="accuracy >= production")
    source = folder / "sums_pipeline.py"
    source.write_text(textwrap.dedent(PIPELINE))
    store.pipeline_run = client.pipelines.run(f"{source}:sums").id
    # a monitor with one window of shifted traffic, and a trigger fired once (job queued)
    train(client, "fraud")
    client.monitoring.add("fraud@production", rules=["dataset_drift"])
    log_traffic(client, make_data(200, seed=5, shift=1.0)[FEATURES], ref="fraud@1")
    client.monitoring.run("fraud@production")
    client.triggers.add(TriggerSpec("nightly", "schedule:0 3 * * *", f"{source}:sums"))
    client.triggers.fire("nightly")
    return store


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("ui-store")
    settings = load_settings(
        env={},
        home=str(folder / "home"),
        db=f"sqlite:///{folder / 'meta' / 'loopml.db'}",
        blobs=str(folder / "blobs"),
    )
    client = Client(settings)
    try:
        yield fill(client, folder)
    finally:
        client.close()


@pytest.fixture(scope="module")
def ui_server(ui_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("ui-server") / "server.log"
    running = start_server(store_env(ui_store.settings), log, "--no-controller")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Chromium: make install-dev")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """A page and everything that went wrong on it: console errors, uncaught exceptions,
    dialogs (an ``alert`` would land here), failed requests and 4xx/5xx answers."""

    page: Any
    problems: list[str]
    requests: list[str]

    def open(self, base: str, route: str) -> None:
        """Go to ``#/route`` and wait until the app says the page is drawn."""
        self.page.goto(f"{base}/#/{route}")
        self.ready(route)

    def click_to(self, selector: str, route: str) -> None:
        """Click ``selector``, which takes the app to ``#/route``, and wait until that page is
        drawn. The page drawn before loses its mark first: the app moves on only when the
        hash change reaches it, after the click returns, so the old mark could end the wait."""
        self.page.eval_on_selector("#main", "m => m.removeAttribute('data-ready')")
        self.page.click(selector)
        self.ready(route)

    def ready(self, route: str) -> None:
        path = route.split("?")[0].rstrip("/") or "home"
        self.page.wait_for_selector(f'#main[data-ready="{path}"]', timeout=15_000)

    def shot(self, folder: Path, name: str = "page") -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000
        return path


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    try:
        yield Watched(page, problems, requests)
    finally:
        context.close()
