"""The web UI in headless Chromium against a real ``loopml server`` over SDK-made data: every
page draws without a console error or a failed request, the runs table sorts and filters on
the server, a comparison overlays one series per run, and HTML in a run name stays text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loopml.sdk import Client
from tests.plugins.server import ServerProcess, start_server, store_env
from tests.ui.conftest import EVIL, Store, Watched, served

# Each page with the routes it reads; pages whose routes this server lacks are not generated.
PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("", ("GET /datasets", "GET /runs", "GET /models", "GET /monitors", "GET /jobs",
          "GET /deployments/{}/history")),
    ("datasets", ("GET /datasets",)),
    ("datasets/churn-data", ("GET /datasets/{}/versions",)),
    ("datasets/churn-data/2", ("GET /datasets/{}/versions/{}",)),
    ("datasets/churn-data/diff?a=1&b=2", ("GET /datasets/diff",)),
    ("runs", ("GET /experiments", "GET /runs")),
    ("runs/{run-0}", ("GET /runs/{}", "GET /runs/{}/metrics/{}")),
    ("compare?runs={run-0},{run-1},{run-2}", ("GET /runs/{}", "GET /runs/{}/metrics/{}")),
    ("models", ("GET /models",)),
    ("models/churn", ("GET /models/{}/versions",)),
    ("models/churn/2", ("GET /models/{}/versions/{}", "GET /deployments/{}/history",
                        "GET /monitors", "GET /runs/{}")),
    ("pipelines", ("GET /pipelines/runs",)),
    ("pipelines/{pipeline}", ("GET /pipelines/runs/{}",)),
    ("deployments", ("GET /models", "GET /deployments/{}/history")),
    ("monitors", ("GET /monitors", "GET /monitors/{}/results")),
    ("monitors/fraud@production", ("GET /monitors/{}", "GET /monitors/{}/results")),
    ("triggers", ("GET /triggers", "GET /jobs")),
    ("triggers/nightly", ("GET /triggers/{}", "GET /triggers/{}/firings", "GET /jobs")),
]  # fmt: skip
AVAILABLE = [page for page, routes in PAGES if served(*routes)]


def _route(page: str, store: Store) -> str:
    for name, run_id in store.run_ids.items():
        page = page.replace("{" + name + "}", run_id)
    return page.replace("{pipeline}", store.pipeline_run or "")


def test_the_page_and_its_files_carry_a_policy_allowing_only_this_server(
    ui_server: ServerProcess, watched: Watched, tmp_path: Path
) -> None:
    answer = watched.page.goto(ui_server.url + "/")
    assert answer is not None and answer.status == 200
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    watched.ready("")
    watched.shot(tmp_path, "home")
    origin = ui_server.url
    assert all(url.startswith(origin) for url in watched.requests), watched.requests
    if served(*PAGES[0][1]):
        assert watched.problems == []


if AVAILABLE:

    @pytest.mark.parametrize("page", AVAILABLE)
    def test_every_page_loads_without_console_errors_or_failed_requests(
        page: str, ui_server: ServerProcess, ui_store: Store, watched: Watched, tmp_path: Path
    ) -> None:
        watched.open(ui_server.url, _route(page, ui_store))
        main = watched.page.locator("#main")
        assert main.locator(".error").count() == 0, main.inner_text()
        assert main.locator(".unavailable").count() == 0, main.inner_text()
        watched.page.wait_for_load_state("networkidle")
        watched.shot(tmp_path)
        assert watched.problems == []
        assert all(url.startswith(ui_server.url) for url in watched.requests)


def _column(watched: Watched, metric: str) -> list[float]:
    cells = watched.page.locator(f'table.runs td[data-metric="{metric}"]').all_inner_texts()
    return [float(c) for c in cells]


if served("GET /experiments", "GET /runs"):

    def test_the_runs_table_sorts_and_filters_on_the_server(
        ui_server: ServerProcess, ui_store: Store, watched: Watched, tmp_path: Path
    ) -> None:
        watched.open(ui_server.url, "runs?experiment=churn")  # not the pipeline's run
        assert watched.page.locator("table.runs tbody tr").count() == len(ui_store.run_ids)
        watched.page.locator('th[data-field="metrics.accuracy"]').click()  # descending first
        watched.page.wait_for_selector('th.sorted-desc[data-field="metrics.accuracy"]')
        values = _column(watched, "accuracy")
        assert values == sorted(values, reverse=True) and len(values) == len(ui_store.run_ids)
        watched.page.locator('th[data-field="metrics.accuracy"]').click()
        watched.page.wait_for_selector('th.sorted-asc[data-field="metrics.accuracy"]')
        assert _column(watched, "accuracy") == sorted(values)

        watched.page.fill("#filter", "params.model = 'rf' and metrics.accuracy > 0.885")
        watched.click_to("#run-filter button[type=submit]", "runs")
        watched.page.wait_for_selector("#main[data-ready=runs] table.runs")
        names = watched.page.locator("table.runs td.run-name").all_inner_texts()
        # run-i ends at accuracy 0.88 + 0.01 i; its model is rf for an even i
        assert sorted(names) == ["run-2", "run-4", "run-6"]
        watched.shot(tmp_path, "filtered")

        watched.page.fill("#filter", "metrics.accuracy >")
        watched.page.click("#run-filter button[type=submit]")
        error = watched.page.wait_for_selector("#runs-table .error")
        assert error is not None and "column" in error.inner_text()
        # the refused filter is the one 4xx (which Chromium also logs); nothing else went wrong
        refused = [p for p in watched.problems if re.search(r"HTTP 4\d\d|status of 4\d\d", p)]
        assert len(refused) == 2 and len(watched.problems) == 2, watched.problems


if served("GET /experiments", "GET /runs", "GET /runs/{}", "GET /runs/{}/metrics/{}"):

    def test_a_comparison_overlays_one_series_per_run(
        ui_server: ServerProcess, ui_store: Store, watched: Watched, tmp_path: Path
    ) -> None:
        watched.open(ui_server.url, "runs")
        for name in ("run-1", "run-4", "run-6"):
            row = watched.page.locator(f'tr[data-run="{ui_store.run_ids[name]}"]')
            row.locator("input[type=checkbox]").check()
        watched.page.click("#compare")
        watched.page.wait_for_selector("#main[data-ready=compare] #compare-charts[data-drawn]")
        charts = watched.page.locator("#compare-charts figure.chart")
        assert charts.count() == 2  # accuracy and loss
        for i in range(2):
            assert charts.nth(i).get_attribute("data-series") == "3"
            assert charts.nth(i).locator("path.series").count() == 3
        assert watched.page.locator("table.compare tr.differs").count() == 2  # C and model
        watched.shot(tmp_path, "compare")
        assert watched.problems == []


if served("GET /runs/{}", "GET /runs/{}/metrics/{}"):

    def test_html_in_a_run_name_shows_as_text_and_runs_nothing(
        ui_server: ServerProcess, ui_store: Store, watched: Watched, tmp_path: Path
    ) -> None:
        watched.open(ui_server.url, f"runs/{ui_store.run_ids[EVIL]}")
        assert watched.page.locator("#run-name").inner_text() == EVIL
        assert watched.page.locator('img[src="x"]').count() == 0
        watched.page.wait_for_selector("#metric-charts[data-drawn]")  # nothing left loading
        if served("GET /runs", "GET /experiments"):
            watched.open(ui_server.url, "runs")
            assert watched.page.get_by_text(EVIL, exact=True).count() == 1
            assert watched.page.locator('img[src="x"]').count() == 0
        watched.shot(tmp_path, "evil")
        assert [p for p in watched.problems if "dialog" in p] == []
        assert watched.problems == []


def test_an_unknown_page_says_so(
    ui_server: ServerProcess, watched: Watched, tmp_path: Path
) -> None:
    watched.open(ui_server.url, "no/such/page")
    assert watched.page.locator("h1").inner_text() == "Not found"
    watched.shot(tmp_path)


if served("GET /pipelines/runs/{}"):

    def test_a_pipeline_step_shows_its_status_timing_and_log(
        ui_server: ServerProcess, ui_store: Store, watched: Watched, tmp_path: Path
    ) -> None:
        watched.open(ui_server.url, f"pipelines/{ui_store.pipeline_run}")
        steps = watched.page.locator("svg.dag g.step")
        assert steps.count() == 3
        assert watched.page.locator("svg.dag path.edge").count() == 2  # prepare → total, count
        assert {steps.nth(i).get_attribute("data-status") for i in range(3)} == {"succeeded"}
        watched.page.locator('svg.dag g.step[data-step="prepare"]').click()
        log = watched.page.wait_for_selector("#step-detail pre.log")
        assert log is not None and "preparing 5 rows" in log.inner_text()
        watched.shot(tmp_path, "pipeline")
        assert watched.problems == []


def _token(store: Store, role: str) -> str:
    """A new token of ``role``, made on the store as ``loopml token create`` makes it."""
    client = Client(store.settings)
    try:
        token: str = client.services.access.create(role, None).token  # type: ignore[attr-defined]
        return token
    finally:
        client.close()


def _login(watched: Watched, base: str, token: str) -> None:
    watched.page.goto(base + "/")
    watched.ready("login")
    watched.page.fill("#token", token)
    watched.page.click("#login button[type=submit]")
    watched.ready("")


if served(
    "GET /session", "POST /session", "GET /models", "GET /deployments/{}/history",
    "GET /models/{}/versions/{}", "GET /triggers/{}", "GET /triggers/{}/firings", "GET /jobs",
):  # fmt: skip

    def test_with_auth_a_reader_sees_no_rollback_button_and_an_admin_does(
        ui_store: Store, watched: Watched, tmp_path: Path
    ) -> None:
        env = store_env(ui_store.settings)
        server = start_server(env, tmp_path / "auth.log", "--no-controller", "--auth")
        pages = ["deployments", "models/churn/2", "triggers/nightly"]
        try:
            _login(watched, server.url, _token(ui_store, "reader"))
            assert watched.page.locator("#who [data-role=reader]").count() == 1
            for page in pages:
                watched.open(server.url, page)
                assert watched.page.locator("button.write").count() == 0, page
            watched.open(server.url, "deployments")
            assert watched.page.locator("table.deployments").count() == 1
            assert watched.page.locator("button.rollback").count() == 0
            watched.shot(tmp_path, "reader")
            # the API refuses the reader's write anyway
            status = watched.page.evaluate(
                """() => fetch('/api/v1/deployments/churn/rollback', {method: 'POST',
                     headers: {'Content-Type': 'application/json'},
                     body: JSON.stringify({to: 'production'})}).then(r => r.status)"""
            )
            assert status == 403
            watched.page.click("#who button")  # log out
            watched.ready("login")
            _login(watched, server.url, _token(ui_store, "admin"))
            for page in pages:
                watched.open(server.url, page)
                assert watched.page.locator("button.write").count() >= 1, page
            watched.open(server.url, "deployments")
            target = "button.rollback[data-target='churn@production']"
            assert watched.page.locator(target).count() == 1
            watched.page.locator(target).click()  # arms it
            watched.page.locator(target).click()  # confirms: POST through the session cookie
            cell = watched.page.wait_for_selector("table.deployments td:text-is('rollback')")
            assert cell is not None
            watched.shot(tmp_path, "admin")
        finally:
            server.stop()
        # before logging in, the session answers 401 (logged by Chromium) and the 403 above:
        # nothing else went wrong
        assert [p for p in watched.problems if not re.search(r"40[13]", p)] == []
