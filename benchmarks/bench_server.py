"""Tracking through a server: ``loopml server`` against ``mlflow server`` (both on SQLite).

Usage (with the project venv; MLflow runs from ``benchmarks/.venv-mlflow``, made by
``bash benchmarks/setup_serving_venvs.sh``)::

    .venv/bin/python benchmarks/bench_server.py
    .venv/bin/python benchmarks/bench_server.py --only loopml --points 20000 --search-runs 500

One JSON object goes to stdout, progress to stderr. Each tool gets a fresh store and a fresh
server process on a free loopback port (``loopml server --no-controller`` / ``mlflow server
--backend-store-uri sqlite:///…``, both with ``--workers`` as given):

* logging: ``--clients`` client processes (default 4) each start a run, then, at one go
  signal, log ``--points`` metric points (10 keys, steps 0, 1, …) in batches of 1,000 through
  the tool's batch API (``run.log_metric_batch`` with ``LOOPML_URI`` set, then ``flush()`` so
  every point is committed; ``MlflowClient.log_batch`` over HTTP). Reported: all points over the
  wall time from the first client's start to the last client's end, in points/s. Best of
  ``--repeats`` passes (fresh store and server each), every pass shown.
* search: ``--search-runs`` runs (default 10,000; each with 10 params and 10 metrics) are
  written into the store first (loopml: the embedded SDK; MLflow: its Python API on the SQLite
  file), then the server starts and one client process times ``metrics.m0 > 0.5 and params.p0 =
  'lr'`` ordered by ``metrics.m1 DESC``, up to 100 results, through HTTP (loopml's remote
  ``search_runs``, ``MlflowClient.search_runs``): median and p90 of ``--search-reps`` calls
  after two warm-up calls. Both must return the same number of runs.

The load average is recorded beside each pass: other work on the machine skews both tools.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _harness import WORKLOAD, Server, quiet_env, run_script, version_of

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_LOOPML_PY = REPO / ".venv" / "bin" / "python"
DEFAULT_MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"
TOOLS = ("loopml", "mlflow")
TARGETS = {"logging_ratio": 10, "search_median_ms": 20}
FILTER = "metrics.m0 > 0.5 and params.p0 = 'lr'"
ORDER_BY = "metrics.m1 DESC"
EXPERIMENT = "bench-server"
_T0 = time.perf_counter()

COMMON = (
    WORKLOAD
    + """
from pathlib import Path


def wait_for_go():
    go = Path(CFG["go"])
    while not go.exists():
        time.sleep(0.005)
"""
)

LOOPML_CLIENT = (
    COMMON
    + """
import loopml

data = batches(CFG["points"], 1000, CFG["seed"])
run = loopml.start_run(experiment=CFG["experiment"], name=f"client-{CFG['seed']}")
wait_for_go()
t0 = time.time()
for b in data:
    run.log_metric_batch(b)
run.flush()
t1 = time.time()
run.end()
print(json.dumps({"start": t0, "end": t1, "points": sum(map(len, data))}))
"""
)

MLFLOW_CLIENT = (
    COMMON
    + """
import logging, warnings

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=CFG["uri"])
exp = client.get_experiment_by_name(CFG["experiment"]).experiment_id
run_id = client.create_run(exp, run_name=f"client-{CFG['seed']}").info.run_id
data = batches(CFG["points"], 1000, CFG["seed"])
# entity objects are built before the clock starts, as loopml's tuples are
prepared = [[Metric(k, v, int(ts * 1000), step) for k, v, step, ts in b] for b in data]
wait_for_go()
t0 = time.time()
for metrics in prepared:
    client.log_batch(run_id, metrics=metrics)
t1 = time.time()
client.set_terminated(run_id)
print(json.dumps({"start": t0, "end": t1, "points": sum(map(len, data))}))
"""
)

LOOPML_POPULATE = (
    COMMON
    + """
import loopml

rng = random.Random(3)
for i in range(CFG["runs"]):
    params, metrics = run_values(i, rng)
    with loopml.start_run(experiment=CFG["experiment"], name=f"run-{i}", params=params):
        loopml.log_metrics(metrics)
print(json.dumps({"runs": CFG["runs"]}))
"""
)

LOOPML_SEARCH = (
    COMMON
    + """
import loopml

search = loopml.connect().search
out = timed(
    lambda: len(search.search_runs(CFG["experiment"], CFG["filter"], [CFG["order_by"]], 100)),
    CFG["reps"],
)
print(json.dumps(out))
"""
)

MLFLOW_POPULATE = (
    COMMON
    + """
import logging, warnings

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=CFG["uri"])
exp = client.get_experiment_by_name(CFG["experiment"])
exp = exp.experiment_id if exp else client.create_experiment(
    CFG["experiment"], artifact_location=CFG["artifacts"]
)
rng = random.Random(3)
now = int(time.time() * 1000)
for i in range(CFG["runs"]):
    params, metrics = run_values(i, rng)
    run_id = client.create_run(exp, run_name=f"run-{i}").info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()],
    )
    client.set_terminated(run_id)
print(json.dumps({"runs": CFG["runs"], "experiment_id": exp}))
"""
)

MLFLOW_SEARCH = (
    COMMON
    + """
import logging, warnings

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=CFG["uri"])
exp = client.get_experiment_by_name(CFG["experiment"]).experiment_id
out = timed(
    lambda: len(
        client.search_runs([exp], CFG["filter"], order_by=[CFG["order_by"]], max_results=100)
    ),
    CFG["reps"],
)
print(json.dumps(out))
"""
)

MLFLOW_SETUP = (
    COMMON
    + """
from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=CFG["uri"])
print(json.dumps({"experiment_id": client.create_experiment(
    CFG["experiment"], artifact_location=CFG["artifacts"]
)}))
"""
)


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def clients(
    python: str, source: str, cfg: dict[str, Any], env: dict[str, str], n: int
) -> dict[str, Any]:
    """``n`` client processes logging at one go signal; points/s over the whole wall time."""
    go = Path(cfg["go"])
    go.unlink(missing_ok=True)
    path = go.with_name("client.py")
    path.write_text(textwrap.dedent(source))
    procs = [
        subprocess.Popen(
            [python, str(path), json.dumps({**cfg, "seed": i})],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    time.sleep(cfg["settle_s"])  # let every client import and start its run
    go.touch()
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a client failed with exit code {proc.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    points = sum(r["points"] for r in results)
    return {
        "points": points,
        "seconds": round(end - start, 4),
        "points_per_s": round(points / (end - start), 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def loopml_server(args: argparse.Namespace, home: Path) -> tuple[Server, dict[str, str]]:
    binary = str(Path(args.loopml_python).with_name("loopml"))
    env = quiet_env({"LOOPML_HOME": str(home)})
    argv = [binary, "server", "--port", "{port}", "--no-controller", "--workers", str(args.workers)]
    return Server(argv, env, "/api/v1/health", home.parent / f"{home.name}.log"), env


def mlflow_server(args: argparse.Namespace, store: Path) -> Server:
    argv = [
        args.mlflow_python, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--default-artifact-root", str(store / "artifacts"),
        "--host", "127.0.0.1", "--port", "{port}", "--workers", str(args.workers),
    ]  # fmt: skip
    return Server(argv, quiet_env({}), "/health", store.parent / f"{store.name}.log")


def best(passes: list[dict[str, Any]]) -> dict[str, Any]:
    top = max(passes, key=lambda p: p["points_per_s"])
    return {
        "points_per_s": top["points_per_s"],
        "points_per_s_passes": [p["points_per_s"] for p in passes],
        "seconds_passes": [p["seconds"] for p in passes],
        "load_average_passes": [p["load_average"] for p in passes],
        "points": top["points"],
    }


def bench_loopml(args: argparse.Namespace, workdir: Path, base: dict[str, Any]) -> dict[str, Any]:
    passes = []
    for i in range(args.repeats):
        home = workdir / f"loopml-log-{i}"
        server, _ = loopml_server(args, home)
        try:
            env = quiet_env({"LOOPML_URI": server.url, "LOOPML_HOME": str(workdir / "client")})
            log(f"loopml logging pass {i + 1}/{args.repeats} ...")
            passes.append(clients(args.loopml_python, LOOPML_CLIENT, base, env, args.clients))
            log(f"  {passes[-1]['points_per_s']:.0f} points/s")
        finally:
            server.stop()
            shutil.rmtree(home, ignore_errors=True)
    out = {"logging": best(passes)}
    home = workdir / "loopml-search"
    log(f"loopml: writing {args.search_runs} runs (embedded) ...")
    t = time.perf_counter()
    cfg = {**base, "runs": args.search_runs}
    run_script(args.loopml_python, LOOPML_POPULATE, cfg,
               quiet_env({"LOOPML_HOME": str(home)}))  # fmt: skip
    out["search_populate_s"] = round(time.perf_counter() - t, 2)
    server, _ = loopml_server(args, home)
    try:
        env = quiet_env({"LOOPML_URI": server.url, "LOOPML_HOME": str(workdir / "client")})
        cfg = {**base, "reps": args.search_reps}
        out["search"] = run_script(args.loopml_python, LOOPML_SEARCH, cfg, env)
        out["search"]["load_average"] = round(os.getloadavg()[0], 2)
    finally:
        server.stop()
    log(f"loopml search: {out['search']}")
    return out


def bench_mlflow(args: argparse.Namespace, workdir: Path, base: dict[str, Any]) -> dict[str, Any]:
    passes = []
    for i in range(args.repeats):
        store = workdir / f"mlflow-log-{i}"
        store.mkdir()
        server = mlflow_server(args, store)
        try:
            cfg = {**base, "uri": server.url, "artifacts": str(store / "artifacts")}
            run_script(args.mlflow_python, MLFLOW_SETUP, cfg, quiet_env({}))
            log(f"mlflow logging pass {i + 1}/{args.repeats} ...")
            passes.append(
                clients(args.mlflow_python, MLFLOW_CLIENT, cfg, quiet_env({}), args.clients)
            )
            log(f"  {passes[-1]['points_per_s']:.0f} points/s")
        finally:
            server.stop()
            shutil.rmtree(store, ignore_errors=True)
    out: dict[str, Any] = {"logging": best(passes)}
    store = workdir / "mlflow-search"
    store.mkdir()
    log(f"mlflow: writing {args.mlflow_search_runs} runs (Python API on SQLite; slow) ...")
    t = time.perf_counter()
    cfg = {
        **base,
        "runs": args.mlflow_search_runs,
        "uri": f"sqlite:///{store / 'mlflow.db'}",
        "artifacts": str(store / "artifacts"),
    }
    run_script(args.mlflow_python, MLFLOW_POPULATE, cfg,
               quiet_env({}))  # fmt: skip
    out["search_populate_s"] = round(time.perf_counter() - t, 2)
    server = mlflow_server(args, store)
    try:
        cfg = {**base, "uri": server.url, "reps": args.search_reps}
        out["search"] = run_script(args.mlflow_python, MLFLOW_SEARCH, cfg, quiet_env({}))
        out["search"]["load_average"] = round(os.getloadavg()[0], 2)
    finally:
        server.stop()
    out["version"] = version_of(args.mlflow_python, "mlflow")
    log(f"mlflow search: {out['search']}")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--points", type=int, default=250_000, help="metric points per client")
    p.add_argument("--repeats", type=int, default=3, help="logging passes; the best is reported")
    p.add_argument("--workers", type=int, default=1, help="server worker processes (both tools)")
    p.add_argument("--search-runs", type=int, default=10_000)
    p.add_argument(
        "--mlflow-search-runs", type=int, help="runs MLflow writes for search (default: the same)"
    )
    p.add_argument("--search-reps", type=int, default=30)
    p.add_argument("--settle-s", type=float, default=3.0, help="wait before the go signal")
    p.add_argument("--only", default=",".join(TOOLS), help="comma list of: " + ", ".join(TOOLS))
    p.add_argument("--workdir", type=Path, help="default: a temp folder under /tmp")
    p.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    p.add_argument("--loopml-python", default=str(DEFAULT_LOOPML_PY))
    p.add_argument("--mlflow-python", default=str(DEFAULT_MLFLOW_PY))
    args = p.parse_args(argv)
    args.mlflow_search_runs = args.mlflow_search_runs or args.search_runs
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    if "mlflow" in only and not Path(args.mlflow_python).exists():
        print(
            f"MLflow's venv is missing ({args.mlflow_python}): create it with "
            "`bash benchmarks/setup_serving_venvs.sh`, pass --mlflow-python, or run "
            "--only loopml",
            file=sys.stderr,
        )
        return 2
    temp_workdir = args.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="loopml-bench-server-", dir="/tmp"))
        if temp_workdir
        else args.workdir
    ).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir {workdir}")
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {os.getloadavg()[0]:.2f}: other work will skew the timings")
    base = {
        "experiment": EXPERIMENT,
        "points": args.points,
        "filter": FILTER,
        "order_by": ORDER_BY,
        "go": str(workdir / "go"),
        "settle_s": args.settle_s,
    }
    result: dict[str, Any] = {
        "benchmark": "server",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {
            "clients": args.clients,
            "points_per_client": args.points,
            "batch_size": 1000,
            "repeats": args.repeats,
            "server_workers": args.workers,
            "search_runs": args.search_runs,
            "mlflow_search_runs": args.mlflow_search_runs,
            "search_filter": FILTER,
            "search_order_by": ORDER_BY,
            "search_limit": 100,
            "search_reps": args.search_reps,
            "backend": "SQLite (both)",
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": round(os.getloadavg()[0], 2),
        },
        "notes": [],
    }
    try:
        if "loopml" in only:
            result["loopml"] = bench_loopml(args, workdir, base)
            result["loopml"]["version"] = version_of(args.loopml_python, "loopml")
        if "mlflow" in only:
            result["mlflow"] = bench_mlflow(args, workdir, base)
    finally:
        if temp_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    lm, mf = result.get("loopml"), result.get("mlflow")
    if lm and mf:
        result["ratios"] = {
            "logging_points_per_s": round(
                lm["logging"]["points_per_s"] / mf["logging"]["points_per_s"], 1
            ),
            "search_median_ms": round(
                mf["search"]["search_median_ms"] / lm["search"]["search_median_ms"], 1
            ),
        }
        if lm["search"]["search_results"] != mf["search"]["search_results"]:
            result["notes"].append(
                f"search result counts differ: loopml {lm['search']['search_results']}, "
                f"mlflow {mf['search']['search_results']}"
            )
        if args.mlflow_search_runs != args.search_runs:
            result["notes"].append(
                f"MLflow searched {args.mlflow_search_runs} runs, loopml {args.search_runs}"
            )
    if lm:
        ratio = result.get("ratios", {}).get("logging_points_per_s")
        result["targets_met"] = {
            f"logging >= {TARGETS['logging_ratio']}x mlflow": (
                None if ratio is None else ratio >= TARGETS["logging_ratio"]
            ),
            f"search <= {TARGETS['search_median_ms']} ms median": (
                lm["search"]["search_median_ms"] <= TARGETS["search_median_ms"]
            ),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
