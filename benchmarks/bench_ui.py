"""Web UI benchmark: how long until the runs page is usable and until a 5-run comparison chart
is drawn, in headless Chromium, for ``loopml server`` and for ``mlflow server`` holding the same
runs (N runs x M metrics x S steps, logged through each tool's own client).

Usage (with the project venv; MLflow runs from ``benchmarks/.venv-mlflow``, made by
``bash benchmarks/setup_serving_venvs.sh``; Chromium is Debian's ``/usr/bin/chromium``)::

    .venv/bin/python benchmarks/bench_ui.py                                   # 10,000 x 10 x 100
    .venv/bin/python benchmarks/bench_ui.py --runs 50 --steps 20 --only loopml   # a smoke run
    # fill MLflow once (slow: about 10 M points through its client), then measure alone:
    .venv/bin/python benchmarks/bench_ui.py --mlflow-store /tmp/mlflow-10k --fill-only
    .venv/bin/python benchmarks/bench_ui.py --mlflow-store /tmp/mlflow-10k

One JSON object goes to stdout, progress to stderr. Each measurement opens a fresh browser
context (no cache) and times, with the wall clock of this process, from ``page.goto`` until:

* runs page usable: loopml ``/#/runs?experiment=bench`` shows its first table row (sortable
  and filterable from then on); MLflow ``/#/experiments/ID/runs?workflowType=machine_learning``
  shows the name of the newest run.
* comparison drawn: loopml ``/#/compare?runs=5 ids`` shows its first metric chart with one line
  per run (``comparison``; ``comparison_all_metrics`` waits for every metric's chart, which the
  page marks with ``data-drawn``); MLflow's runs page in chart mode, filtered to the 5 runs
  (``/#/experiments/ID/runs?workflowType=machine_learning&compareRunsMode=CHART&searchFilter=
  attributes.run_id IN (…)``), shows its first Plotly chart with a trace per run.

Median of ``--repeats`` passes after one warm-up pass. Both servers run on SQLite. The MLflow
pages and selectors are those of MLflow 3.x (checked with 3.17); a pass that does not finish within ``--timeout`` is
reported as an error instead of a time. Target (issue 15): each under 1 s and faster than MLflow.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Server, quiet_env, run_script, version_of

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOOPML_BIN = str(Path(sys.executable).with_name("loopml"))
DEFAULT_MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
EXPERIMENT = "bench"
_T0 = time.perf_counter()

LOOPML_POPULATE = """
import json, sys, time
import numpy as np
from loopml.core.settings import load_settings
from loopml.sdk import Client

CFG = json.loads(sys.argv[1])
client = Client(load_settings(None))
rng = np.random.default_rng(0)
ids = []
for i in range(CFG["runs"]):
    with client.tracking.start_run(CFG["experiment"], f"run-{i}",
                                   params={"lr": str(10 ** -rng.uniform(1, 4)), "depth": str(i % 9)}) as run:
        points = [(f"m{k}", float(1 / (s + 1) + rng.normal(0, 0.01)), s)
                  for k in range(CFG["metrics"]) for s in range(CFG["steps"])]
        run.log_metric_batch(points)
    ids.append(run.id)
    if (i + 1) % 500 == 0:
        print(f"{i + 1} runs", file=sys.stderr, flush=True)
client.close()
print(json.dumps({"ids": ids[-CFG["compare"]:]}))
"""

MLFLOW_POPULATE = """
import json, logging, sys, time, warnings
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import numpy as np
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

CFG = json.loads(sys.argv[1])
client = MlflowClient(tracking_uri=CFG["uri"])
exp = client.create_experiment(CFG["experiment"], artifact_location=CFG["artifacts"])
rng = np.random.default_rng(0)
ids = []
for i in range(CFG["runs"]):
    run_id = client.create_run(exp, run_name=f"run-{i}").info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(f"m{k}", float(1 / (s + 1) + rng.normal(0, 0.01)), now, s)
               for k in range(CFG["metrics"]) for s in range(CFG["steps"])]
    params = [Param("lr", str(10 ** -rng.uniform(1, 4))), Param("depth", str(i % 9))]
    for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
        client.log_batch(run_id, metrics=metrics[start:start + 1000],
                         params=params if start == 0 else [])
    client.set_terminated(run_id)
    ids.append(run_id)
    if (i + 1) % 500 == 0:
        print(f"{i + 1} runs", file=sys.stderr, flush=True)
print(json.dumps({"ids": ids[-CFG["compare"]:], "experiment_id": exp}))
"""


def log(msg: str) -> None:
    print(f"[bench_ui {time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def measure(browser: Any, url: str, done: Callable[[Any], None], repeats: int) -> dict[str, Any]:
    """Seconds from ``goto(url)`` until ``done(page)`` returns, in a fresh context each pass
    (the first pass is a warm-up for the server, not counted)."""
    times: list[float] = []
    errors: list[str] = []
    for i in range(repeats + 1):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        try:
            start = time.perf_counter()
            page.goto(url)
            done(page)
            elapsed = time.perf_counter() - start
            if i:
                times.append(elapsed)
        except Exception as exc:  # a page that never gets there is reported, not fatal
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            context.close()
    out: dict[str, Any] = {"url": url, "passes_s": [round(t, 4) for t in times]}
    if times:
        out["median_s"] = round(statistics.median(times), 4)
    if errors:
        out["errors"] = errors
    return out


def bench_loopml(args: argparse.Namespace, browser: Any, work: Path) -> dict[str, Any]:
    home = work / "loopml"
    env = quiet_env(
        {"LOOPML_HOME": str(home), "LOOPML_DB": f"sqlite:///{home / 'loopml.db'}",
         "LOOPML_BLOBS": str(home / "blobs")}
    )  # fmt: skip
    cfg = {"runs": args.runs, "metrics": args.metrics, "steps": args.steps,
           "compare": args.compare, "experiment": EXPERIMENT}  # fmt: skip
    log(f"loopml: logging {args.runs} runs × {args.metrics} metrics × {args.steps} steps ...")
    start = time.perf_counter()
    made = run_script(sys.executable, LOOPML_POPULATE, cfg, env)
    populate_s = time.perf_counter() - start
    server = Server([LOOPML_BIN, "server", "--port", "{port}", "--no-controller"], env,
                    "/api/v1/health", work / "loopml-server.log")  # fmt: skip
    try:
        timeout = args.timeout * 1000

        def drawn(page: Any, route: str) -> None:
            page.wait_for_selector(f"#main[data-ready={route}]", timeout=timeout)
            if page.locator("#main .error, #main .unavailable").count():
                raise RuntimeError(page.locator("#main").inner_text()[:200])

        def runs_ready(page: Any) -> None:
            drawn(page, "runs")
            page.wait_for_selector("table.runs tbody tr", timeout=timeout)

        def compare_ready(page: Any) -> None:
            drawn(page, "compare")
            page.wait_for_selector(f"#compare-charts figure[data-series='{args.compare}']",
                                   timeout=timeout)  # fmt: skip

        def all_drawn(page: Any) -> None:
            drawn(page, "compare")
            page.wait_for_selector("#compare-charts[data-drawn]", timeout=timeout)

        runs = measure(browser, f"{server.url}/#/runs?experiment={EXPERIMENT}", runs_ready,
                       args.repeats)  # fmt: skip
        log(f"loopml runs page: {runs}")
        url = f"{server.url}/#/compare?runs={','.join(made['ids'])}"
        compare = measure(browser, url, compare_ready, args.repeats)
        log(f"loopml comparison: {compare}")
        every = measure(browser, url, all_drawn, args.repeats)
        log(f"loopml comparison, every metric's chart: {every}")
    finally:
        server.stop()
    return {"populate_s": round(populate_s, 1), "runs_page": runs, "comparison": compare,
            "comparison_all_metrics": every}  # fmt: skip


def fill_mlflow(args: argparse.Namespace, store: Path) -> tuple[dict[str, Any], float | None]:
    """MLflow's store in ``store``, filled through its own client; a store this script filled
    before with the same sizes (``filled.json`` beside it) is reused as it is, so the slow
    fill can run once, ahead of the timed passes (``--fill-only``)."""
    uri = f"sqlite:///{store / 'mlflow.db'}"
    cfg = {"runs": args.runs, "metrics": args.metrics, "steps": args.steps,
           "compare": args.compare, "experiment": EXPERIMENT, "uri": uri,
           "artifacts": str(store / "artifacts")}  # fmt: skip
    marker = store / "filled.json"
    if marker.exists():
        before = json.loads(marker.read_text())
        if before["config"] == cfg:
            log(f"mlflow: reusing the store filled before in {store}")
            return before, None
        raise SystemExit(f"{store} holds an MLflow store of other sizes; give an empty folder")
    store.mkdir(parents=True, exist_ok=True)
    if any(store.iterdir()):
        raise SystemExit(f"{store} is not empty and was not filled by this script")
    log(f"mlflow: logging {args.runs} runs (its Python client on SQLite; slow) ...")
    start = time.perf_counter()
    made = run_script(args.mlflow_python, MLFLOW_POPULATE, cfg, quiet_env({}))
    populate_s = time.perf_counter() - start
    made.update(config=cfg, populate_s=round(populate_s, 1))
    marker.write_text(json.dumps(made))
    return made, populate_s


def bench_mlflow(args: argparse.Namespace, browser: Any, work: Path) -> dict[str, Any]:
    store = Path(args.mlflow_store) if args.mlflow_store else work / "mlflow"
    made, populate_s = fill_mlflow(args, store)
    uri = made["config"]["uri"]
    server = Server(
        [args.mlflow_python, "-m", "mlflow", "server", "--backend-store-uri", uri,
         "--default-artifact-root", str(store / "artifacts"), "--host", "127.0.0.1",
         "--port", "{port}", "--workers", "1"],
        quiet_env({}), "/health", work / "mlflow-server.log",
    )  # fmt: skip
    try:
        timeout = args.timeout * 1000
        exp = made["experiment_id"]
        newest = f"run-{args.runs - 1}"

        def runs_ready(page: Any) -> None:
            page.get_by_text(newest, exact=True).first.wait_for(timeout=timeout)

        def compare_ready(page: Any) -> None:
            page.wait_for_function(
                "n => { const plot = document.querySelector('.js-plotly-plot');"
                " return plot && plot.querySelectorAll('.scatterlayer .trace').length >= n; }",
                arg=args.compare,
                timeout=timeout,
            )

        base = f"{server.url}/#/experiments/{exp}/runs?workflowType=machine_learning"
        runs = measure(browser, base, runs_ready, args.repeats)
        log(f"mlflow runs page: {runs}")
        chosen = ", ".join(f"'{i}'" for i in made["ids"])
        only = urllib.parse.quote(f"attributes.run_id IN ({chosen})")
        url = f"{base}&compareRunsMode=CHART&searchFilter={only}"
        compare = measure(browser, url, compare_ready, args.repeats)
        log(f"mlflow comparison: {compare}")
    finally:
        server.stop()
    return {"version": version_of(args.mlflow_python, "mlflow"), "store": str(store), "runs_page": runs, "comparison": compare,
            "populate_s": made["populate_s"], "populated_in_this_run": populate_s is not None}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--metrics", type=int, default=10)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--compare", type=int, default=5, help="Runs in the comparison (2-5).")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60.0, help="Seconds a page may take.")
    p.add_argument("--only", choices=("loopml", "mlflow"))
    p.add_argument("--mlflow-python", default=str(DEFAULT_MLFLOW_PY))
    p.add_argument(
        "--mlflow-store",
        help="Folder for MLflow's store, kept after the run and "
        "reused when filled before with the same sizes (default: a temporary one).",
    )
    p.add_argument(
        "--fill-only",
        action="store_true",
        help="Only fill --mlflow-store (the slow part), measure nothing.",
    )
    args = p.parse_args()
    if args.fill_only:
        if not args.mlflow_store:
            p.error("--fill-only needs --mlflow-store")
        made, _ = fill_mlflow(args, Path(args.mlflow_store))
        print(json.dumps({"benchmark": "ui", "filled": made}, indent=2))
        return
    if not 2 <= args.compare <= 5 or args.compare > args.runs:
        p.error("--compare must be 2-5 and at most --runs")
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {
        "benchmark": "ui",
        "config": {k: getattr(args, k) for k in ("runs", "metrics", "steps", "compare", "repeats")},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if args.only in (None, "loopml"):
                result["loopml"] = bench_loopml(args, browser, Path(tmp))
            if args.only in (None, "mlflow"):
                if not Path(args.mlflow_python).exists():
                    result["mlflow"] = {"error": f"no MLflow venv at {args.mlflow_python}; "
                                        "run: bash benchmarks/setup_serving_venvs.sh"}  # fmt: skip
                else:
                    result["mlflow"] = bench_mlflow(args, browser, Path(tmp))
        finally:
            browser.close()
    for key in ("runs_page", "comparison"):
        ours = result.get("loopml", {}).get(key, {}).get("median_s")
        theirs = result.get("mlflow", {}).get(key, {}).get("median_s")
        if ours and theirs:
            result.setdefault("ratios", {})[key] = round(theirs / ours, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
