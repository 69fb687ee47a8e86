"""Experiment-tracking benchmark: loopml (embedded, SQLite) against MLflow 3.x (SQLite backend).

Usage (with the project venv; MLflow runs from ``benchmarks/.venv-mlflow``)::

    .venv/bin/python benchmarks/bench_tracking.py
    .venv/bin/python benchmarks/bench_tracking.py --only loopml --points-b 200000
    .venv/bin/python benchmarks/bench_tracking.py --mlflow-runs-c 200   # extrapolated per run

One JSON object goes to stdout, progress to stderr. Each tool runs the same workload in its own
fresh process and store (cwd: this git work tree, so both record a code version):

* a: ``log_metric`` called 20,000 times in one run through the plain per-call API
  (``loopml.log_metric`` / ``mlflow.log_metric``); loopml's time includes the final ``flush()``
  (every point committed). Reported as points/s.
* b: 1,000,000 points (10 keys x 100,000 steps) in batches of 1,000 (MLflow's ``log_batch``
  limit): ``run.log_metric_batch`` / ``MlflowClient.log_batch``; loopml again includes the final
  flush. Points/s.
* c: 1,000 runs, each started, given 10 params and 10 metrics, and ended (``with start_run``,
  ``log_params``, ``log_metrics``). Seconds. With ``--mlflow-runs-c N`` MLflow creates only N
  runs and its time is extrapolated per run (said so in the output).
* d: search over those runs: ``metrics.m0 > 0.5 and params.p0 = 'lr'`` ordered by
  ``metrics.m1 DESC``, up to 1,000 results; median (and p90) latency of repeated calls after
  two warm-up calls. Both tools must return the same number of runs.
* import: median in-process time of ``import loopml`` / ``import mlflow`` in fresh interpreters.

Durability: loopml's SQLite runs in WAL mode with ``synchronous=NORMAL`` by default (a process
crash loses nothing committed; a power cut may lose the last commits), MLflow's SQLite store
uses SQLite's defaults (rollback journal, ``synchronous=FULL``). loopml is measured at both:
``loopml`` (default) and ``loopml_full`` (``LOOPML_DB=sqlite:///...?synchronous=full``), and
the ratios are given for each.

loopml's side takes seconds, so it runs ``--loopml-repeats`` times (fresh store each) and each
figure is the median over the passes (all passes are listed); MLflow's takes minutes and runs
once. The load average is recorded beside each: other work on the machine skews both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _harness import WORKLOAD, quiet_env, run_script, version_of

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_LOOPML_PY = REPO / ".venv" / "bin" / "python"
DEFAULT_MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"
TOOLS = ("loopml", "mlflow")
REFERENCE_MLFLOW = {  # measured before on this machine: MLflow 3.17.2, SQLite
    "a_points_per_s": 128,
    "b_points_per_s": 5071,
    "c_seconds": 47,
    "d_median_ms": "94-122",
    "import_s": 2.3,
}
TARGETS = {"a_ratio": 300, "b_ratio": 30, "c_ratio": 20, "d_median_ms": 10, "import_s": 0.3}
FILTER = "metrics.m0 > 0.5 and params.p0 = 'lr'"
ORDER_BY = "metrics.m1 DESC"
_T0 = time.perf_counter()

# The workload, shared by both workers (each worker defines start/log/search functions).
COMMON = (
    WORKLOAD
    + """

def log(msg):
    print(f"  [{CFG['tool']}] {msg}", file=sys.stderr, flush=True)
"""
)

LOOPML_WORKER = (
    COMMON
    + """
import loopml

out = {}
values = [random.Random(1).random() for _ in range(CFG["points_a"])]
with loopml.start_run(experiment="bench-a", name="per-call") as run:
    t = time.perf_counter()
    for i, v in enumerate(values):
        loopml.log_metric("loss", v, step=i)
    loopml.flush()
    dt = time.perf_counter() - t
out["a_points"] = len(values)
out["a_seconds"] = round(dt, 4)
out["a_points_per_s"] = round(len(values) / dt, 1)
log(f"a: {out['a_points_per_s']:.0f} points/s")

data = batches(CFG["points_b"], 1000, 2)
with loopml.start_run(experiment="bench-b", name="batches") as run:
    t = time.perf_counter()
    for batch in data:
        run.log_metric_batch(batch)
    run.flush()
    dt = time.perf_counter() - t
n = sum(len(b) for b in data)
out["b_points"] = n
out["b_seconds"] = round(dt, 4)
out["b_points_per_s"] = round(n / dt, 1)
log(f"b: {out['b_points_per_s']:.0f} points/s")
del data

rng = random.Random(3)
work = [run_values(i, rng) for i in range(CFG["runs_c"])]
t = time.perf_counter()
for i, (params, metrics) in enumerate(work):
    with loopml.start_run(experiment="bench-c", name=f"run-{i}"):
        loopml.log_params(params)
        loopml.log_metrics(metrics)
dt = time.perf_counter() - t
out["c_runs"] = len(work)
out["c_seconds"] = round(dt, 3)
out["c_ms_per_run"] = round(dt / len(work) * 1000, 3)
log(f"c: {dt:.2f} s for {len(work)} runs")

tracking = loopml.Client().tracking
out.update(
    timed(
        lambda: len(tracking.search_runs("bench-c", CFG["filter"], [CFG["order_by"]], 1000)),
        CFG["search_reps"],
        "d_",
    )
)
log(f"d: {out['d_median_ms']} ms median, {out['d_results']} runs")
print(json.dumps(out))
"""
)

MLFLOW_WORKER = (
    COMMON
    + """
import logging
import warnings

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

mlflow.set_tracking_uri(CFG["uri"])
client = MlflowClient()
out = {"mlflow_version": mlflow.__version__}


def experiment(name):
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name, artifact_location=CFG["artifacts"] + "/" + name)
    return exp.experiment_id


values = [random.Random(1).random() for _ in range(CFG["points_a"])]
mlflow.set_experiment(experiment_id=experiment("bench-a"))
with mlflow.start_run(run_name="per-call"):
    t = time.perf_counter()
    for i, v in enumerate(values):
        mlflow.log_metric("loss", v, step=i)
    dt = time.perf_counter() - t
out["a_points"] = len(values)
out["a_seconds"] = round(dt, 4)
out["a_points_per_s"] = round(len(values) / dt, 1)
log(f"a: {out['a_points_per_s']:.0f} points/s")

data = batches(CFG["points_b"], 1000, 2)
mlflow.set_experiment(experiment_id=experiment("bench-b"))
with mlflow.start_run(run_name="batches") as run:
    run_id = run.info.run_id
    # MLflow's entity objects are built before the clock starts, as loopml's tuples are
    prepared = [[Metric(k, v, int(ts * 1000), step) for k, v, step, ts in b] for b in data]
    t = time.perf_counter()
    for metrics in prepared:
        client.log_batch(run_id, metrics=metrics)
    dt = time.perf_counter() - t
    del prepared
n = sum(len(b) for b in data)
out["b_points"] = n
out["b_seconds"] = round(dt, 4)
out["b_points_per_s"] = round(n / dt, 1)
log(f"b: {out['b_points_per_s']:.0f} points/s")
del data

rng = random.Random(3)
work = [run_values(i, rng) for i in range(CFG["runs_c"])]
exp_c = experiment("bench-c")
mlflow.set_experiment(experiment_id=exp_c)
t = time.perf_counter()
for i, (params, metrics) in enumerate(work):
    with mlflow.start_run(run_name=f"run-{i}"):
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
    if i and i % 100 == 0:
        log(f"c: {i} runs")
dt = time.perf_counter() - t
out["c_runs"] = len(work)
out["c_seconds"] = round(dt, 3)
out["c_ms_per_run"] = round(dt / len(work) * 1000, 3)
log(f"c: {dt:.2f} s for {len(work)} runs")

out.update(
    timed(
        lambda: len(
            client.search_runs(
                [exp_c], CFG["filter"], order_by=[CFG["order_by"]], max_results=1000
            )
        ),
        CFG["search_reps"],
        "d_",
    )
)
log(f"d: {out['d_median_ms']} ms median, {out['d_results']} runs")
print(json.dumps(out))
"""
)


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def import_time(python: str, module: str, env: dict[str, str], reps: int) -> dict[str, Any]:
    """Median seconds of ``import module`` inside fresh interpreters (and of the whole process)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    inside, whole = [], []
    for _ in range(reps):
        t = time.perf_counter()
        out = subprocess.run(
            [python, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        whole.append(time.perf_counter() - t)
        inside.append(float(out.stdout.strip().splitlines()[-1]))
    return {
        "import_s": round(statistics.median(inside), 4),
        "process_with_import_s": round(statistics.median(whole), 4),
    }


def median_pass(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """Each measured figure as its median over the passes, with every pass's value beside."""
    out: dict[str, Any] = dict(passes[0])
    for key in ("a_points_per_s", "b_points_per_s", "c_seconds", "d_median_ms", "d_p90_ms"):
        values = [p[key] for p in passes]
        out[key] = statistics.median(values)
        out[f"{key}_passes"] = values
    out["c_ms_per_run"] = round(out["c_seconds"] / out["c_runs"] * 1000, 3)
    out["load_average_passes"] = [p["load_average"] for p in passes]
    for key in ("a_seconds", "b_seconds", "d_min_ms", "load_average"):
        out.pop(key, None)
    out["passes"] = len(passes)
    return out


def ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 1) if a and b else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--points-a", type=int, default=20_000)
    p.add_argument("--points-b", type=int, default=1_000_000)
    p.add_argument("--runs-c", type=int, default=1000)
    p.add_argument(
        "--mlflow-runs-c", type=int, help="MLflow creates this many runs in (c), extrapolated"
    )
    p.add_argument("--search-reps", type=int, default=30)
    p.add_argument(
        "--loopml-repeats",
        type=int,
        default=3,
        help="loopml passes (fresh store each); each figure is the median over them",
    )
    p.add_argument("--import-reps", type=int, default=5)
    p.add_argument("--only", default=",".join(TOOLS), help="comma list of: " + ", ".join(TOOLS))
    p.add_argument("--workdir", type=Path, help="default: a temp folder under /tmp")
    p.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    p.add_argument("--loopml-python", default=str(DEFAULT_LOOPML_PY))
    p.add_argument("--mlflow-python", default=str(DEFAULT_MLFLOW_PY))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    temp_workdir = args.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="loopml-bench-tracking-", dir="/tmp"))
        if temp_workdir
        else args.workdir
    ).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir {workdir}")
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {os.getloadavg()[0]:.2f}: other work will skew the timings")
    base = {
        "points_a": args.points_a,
        "points_b": args.points_b,
        "filter": FILTER,
        "order_by": ORDER_BY,
        "search_reps": args.search_reps,
    }
    result: dict[str, Any] = {
        "benchmark": "tracking",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {
            **base,
            "runs_c": args.runs_c,
            "mlflow_runs_c": args.mlflow_runs_c or args.runs_c,
            "batch_size_b": 1000,
            "search_limit": 1000,
            "workdir": str(workdir),
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": round(os.getloadavg()[0], 2),
        },
        "reference_mlflow": REFERENCE_MLFLOW,
        "notes": [],
    }
    try:
        for variant, sync in (("loopml", None), ("loopml_full", "full")):
            if "loopml" not in only:
                break
            passes = []
            for i in range(args.loopml_repeats):
                home = workdir / f"{variant}-home-{i}"
                shutil.rmtree(home, ignore_errors=True)
                extra = {"LOOPML_HOME": str(home)}
                if sync:
                    extra["LOOPML_DB"] = f"sqlite:///{home / 'loopml.db'}?synchronous={sync}"
                env = quiet_env(extra)
                log(f"{variant} pass {i + 1}/{args.loopml_repeats} ...")
                cfg = {**base, "tool": "loopml", "workdir": str(workdir), "runs_c": args.runs_c}
                one = run_script(args.loopml_python, LOOPML_WORKER, cfg, env)
                one["load_average"] = round(os.getloadavg()[0], 2)
                passes.append(one)
                shutil.rmtree(home, ignore_errors=True)
            out = median_pass(passes)
            out["sqlite_synchronous"] = sync or "normal"
            if variant == "loopml":
                out.update(import_time(args.loopml_python, "loopml", env, args.import_reps))
                out["version"] = version_of(args.loopml_python, "loopml")
            result[variant] = out
            log(f"{variant}: {out}")
        if "mlflow" in only:
            store = workdir / "mlflow"
            shutil.rmtree(store, ignore_errors=True)
            store.mkdir()
            env = quiet_env({})
            n_c = args.mlflow_runs_c or args.runs_c
            log(f"mlflow ... (this takes minutes: it commits every call; {n_c} runs in c)")
            cfg = {
                **base,
                "tool": "mlflow",
                "workdir": str(workdir),
                "runs_c": n_c,
                "uri": f"sqlite:///{store / 'mlflow.db'}",
                "artifacts": str(store / "artifacts"),
            }
            out = run_script(args.mlflow_python, MLFLOW_WORKER, cfg, env)
            out["load_average"] = round(os.getloadavg()[0], 2)
            out.update(import_time(args.mlflow_python, "mlflow", env, args.import_reps))
            if n_c != args.runs_c:
                out["c_seconds_measured"] = out["c_seconds"]
                out["c_seconds"] = round(out["c_ms_per_run"] * args.runs_c / 1000, 3)
                result["notes"].append(
                    f"mlflow c: {n_c} runs measured, c_seconds extrapolated per run to "
                    f"{args.runs_c}; its d searched {n_c} runs, not {args.runs_c}"
                )
            result["mlflow"] = out
            log(f"mlflow: {out}")
    finally:
        if temp_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    lm, mf = result.get("loopml"), result.get("mlflow")
    if lm and mf:
        result["ratios"] = {
            "a_points_per_s": ratio(lm["a_points_per_s"], mf["a_points_per_s"]),
            "b_points_per_s": ratio(lm["b_points_per_s"], mf["b_points_per_s"]),
            "c_seconds": ratio(mf["c_seconds"], lm["c_seconds"]),
            "d_median_ms": ratio(mf["d_median_ms"], lm["d_median_ms"]),
            "import_s": ratio(mf["import_s"], lm["import_s"]),
        }
        full = result.get("loopml_full")
        if full:
            result["ratios_synchronous_full"] = {
                "a_points_per_s": ratio(full["a_points_per_s"], mf["a_points_per_s"]),
                "b_points_per_s": ratio(full["b_points_per_s"], mf["b_points_per_s"]),
                "c_seconds": ratio(mf["c_seconds"], full["c_seconds"]),
                "d_median_ms": ratio(mf["d_median_ms"], full["d_median_ms"]),
            }
        if lm["d_results"] != mf["d_results"] and (args.mlflow_runs_c or 0) in (0, args.runs_c):
            result["notes"].append(
                f"search result counts differ: loopml {lm['d_results']}, mlflow {mf['d_results']}"
            )
    if lm:
        r = result.get("ratios", {})
        result["targets_met"] = {
            f"a >= {TARGETS['a_ratio']}x mlflow": _ge(r.get("a_points_per_s"), TARGETS["a_ratio"]),
            f"b >= {TARGETS['b_ratio']}x mlflow": _ge(r.get("b_points_per_s"), TARGETS["b_ratio"]),
            f"c >= {TARGETS['c_ratio']}x mlflow": _ge(r.get("c_seconds"), TARGETS["c_ratio"]),
            f"d <= {TARGETS['d_median_ms']} ms": lm["d_median_ms"] <= TARGETS["d_median_ms"],
            f"import loopml < {TARGETS['import_s']} s": lm["import_s"] < TARGETS["import_s"],
        }
    print(json.dumps(result, indent=2))
    return 0


def _ge(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


if __name__ == "__main__":
    sys.exit(main())
