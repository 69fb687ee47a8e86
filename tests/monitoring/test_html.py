"""The HTML report: self-contained, escaped, and rendered by a real browser without errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from loopml.api.monitoring import QualityEstimate, QualityMetrics, ReportWindow, Task
from loopml.monitoring.drift import compare
from loopml.monitoring.html import render_report

EVIL = "<img src=x onerror=alert(1)>"


def _windows() -> list[ReportWindow]:
    rng = np.random.default_rng(0)
    n = 400
    ref = pa.table(
        {
            EVIL: rng.normal(0, 1, n),
            "plan": rng.choice(np.array(["basic", "pro", '"><script>alert(2)</script>']), n),
            "age": rng.integers(18, 90, n),
            "prediction": rng.integers(0, 2, n),
        }
    )
    windows = []
    for i, shift in enumerate((0.0, 0.4, 1.0)):
        cur = pa.table(
            {
                EVIL: rng.normal(shift, 1, n),
                "plan": rng.choice(np.array(["basic", "pro", "<b>new</b>"]), n),
                "age": np.full(n, np.nan) if i == 2 else rng.integers(18, 90, n).astype(float),
                "prediction": rng.integers(0, 2, n),
            }
        )
        drift = compare(ref, cur, columns=[EVIL, "plan", "age"])
        quality = QualityMetrics(Task.CLASSIFICATION, {"accuracy": 0.9 - 0.1 * i}, n, 300, 0.75)
        est = QualityEstimate({"accuracy": 0.88 - 0.09 * i, "f1": 0.8}, True, 0.03)
        windows.append(
            ReportWindow(
                f"2026-12-0{i + 1}T00:00:00Z", f"2026-12-0{i + 1}T01:00:00Z", drift,
                quality if i else None, est, registered={"accuracy": 0.91},
            )
        )  # fmt: skip
    return windows


def test_report_escapes_every_name_and_loads_nothing() -> None:
    page = render_report(f"churn@production {EVIL}", _windows())
    assert "<img" not in page and "<script" not in page and "<b>new" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&quot;&gt;&lt;script&gt;" in page
    assert (
        "http://" not in page
        and "https://" not in page
        and "src=" not in page.replace("&lt;img src=x", "")
    )
    assert "default-src 'none'" in page  # nothing can be fetched, even if something slipped in
    for expected in ("ks", "chi2", "not compared: all_missing", "est. 0.7"):
        assert expected in page
    assert page.count("<svg") == 3 + 1 + 2  # features, prediction, quality metrics


def test_report_without_windows_or_drift_still_renders() -> None:
    page = render_report("empty", [])
    assert "No windows computed yet" in page
    page = render_report("x", [ReportWindow("a", "b")])
    assert "<table>" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium: make install-dev")
def test_report_opens_in_headless_chromium_without_console_errors(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    report = tmp_path / "report.html"
    report.write_text(render_report(f"drift {EVIL}", _windows()), encoding="utf-8")
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            assert page.title() == f"drift {EVIL}"
            assert page.locator("svg").count() == 6
            assert page.get_by_text(EVIL).count() >= 1  # shown as text, not run
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests == [report.as_uri()]
    assert shot.stat().st_size > 10_000
