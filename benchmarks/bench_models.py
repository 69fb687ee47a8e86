"""Model-registry benchmark: loopml (embedded: SQLite + local blobs) against MLflow 3.x with a
SQLite backend, in one run.

Usage (with the project venv; MLflow comes from its own venv, ``benchmarks/.venv-mlflow``)::

    .venv/bin/python benchmarks/bench_models.py
    .venv/bin/python benchmarks/bench_models.py --versions 50 --latency-runs 50 --only loopml

One JSON object goes to stdout, progress to stderr. Each side runs as its own fresh Python
process (the project venv for loopml, the MLflow venv for MLflow) against a fresh store in
``WORKDIR``. Both fit the same ``--versions`` models first (a StandardScaler + logistic
regression pipeline on scikit-learn's bundled breast-cancer data, C varying per version, so no
two versions hold identical bytes); only the registry calls are timed.

* (e) register: per version, loopml ``register_model(name, model, metrics=, params=)``;
  MLflow ``start_run`` + ``log_metric`` + ``log_param`` + ``mlflow.sklearn.log_model(...,
  registered_model_name=..., pip_requirements=[...])`` (so it does not infer requirements).
  MLflow's default requirement inference is timed apart on ``--default-reqs-versions``
  versions, since it costs seconds per version.
* (f) latency, median of ``--latency-runs`` calls after ``--warmup`` calls, with alias
  ``production`` on the middle version: ``best_version(name, "auc")`` vs MLflow
  ``search_runs(order_by=metrics.auc DESC, max_results=1)`` + ``search_model_versions(run_id)``
  (MLflow keeps metrics on runs); ``load_model("name@production")`` vs
  ``mlflow.pyfunc.load_model("models:/name@production")``.
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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_LOOPML_PY = REPO / ".venv" / "bin" / "python"
DEFAULT_MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"
_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# Code shared by both sides: the models to register, fitted before any timing starts, and the
# latency statistics. Plain text, pasted in front of each side's script.
COMMON = r'''
import json, statistics, sys, time, warnings

CFG = json.loads(sys.argv[1])


def fitted_models(n):
    """n logistic-regression pipelines with different C, and their training accuracy."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    out = []
    for i in range(n):
        m = make_pipeline(StandardScaler(), LogisticRegression(C=0.01 * (i + 1), max_iter=1000))
        m.fit(x, y)
        out.append((m, float(m.score(x, y)), 0.01 * (i + 1)))
    return out, x


def stats(seconds):
    ms = sorted(s * 1000 for s in seconds)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(ms[0], 3),
    }


def timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return stats(out)


def register_stats(seconds):
    return {
        "versions": len(seconds),
        "total_s": round(sum(seconds), 3),
        "per_version_s": round(sum(seconds) / len(seconds), 5),
        "median_s": round(statistics.median(seconds), 5),
        "first_s": round(seconds[0], 5),
        "last_50_per_version_s": round(sum(seconds[-50:]) / len(seconds[-50:]), 5),
    }
'''

LOOPML_SIDE = (
    COMMON
    + r"""
import loopml
import sklearn

models, x = fitted_models(CFG["versions"])
name = "bench"
loopml.list_models()  # create the store before timing, as MLflow's set_experiment does
seconds = []
for i, (m, score, c) in enumerate(models):
    t = time.perf_counter()
    loopml.register_model(name, m, metrics={"auc": score, "i": i}, params={"C": c})
    seconds.append(time.perf_counter() - t)
middle = len(models) // 2 + 1
loopml.set_alias(name, "production", middle)
best = loopml.best_version(name, "auc")
loaded = loopml.load_model(name + "@production")
assert loaded.version == middle and (loaded.predict(x[:5]) == models[middle - 1][0].predict(x[:5])).all()
print(json.dumps({
    "version": loopml.__version__,
    "sklearn": sklearn.__version__,
    "register": register_stats(seconds),
    "best_version": timed(lambda: loopml.best_version(name, "auc"), CFG["warmup"], CFG["runs"]),
    "best_version_result": best.version,
    "load_by_alias": timed(lambda: loopml.load_model(name + "@production"), CFG["warmup"], CFG["runs"]),
}))
"""
)

MLFLOW_SIDE = (
    COMMON
    + r"""
import logging, os
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import mlflow
import mlflow.sklearn
import sklearn
from mlflow import MlflowClient

mlflow.set_tracking_uri(CFG["tracking_uri"])
exp = mlflow.set_experiment("bench")
client = MlflowClient()
models, x = fitted_models(CFG["versions"] + CFG["default_reqs_versions"])
reqs = [f"scikit-learn=={sklearn.__version__}"]


def register(name, m, score, c, pip_requirements):
    with mlflow.start_run():
        mlflow.log_metric("auc", score)
        mlflow.log_param("C", c)
        mlflow.sklearn.log_model(
            m, name="model", registered_model_name=name, pip_requirements=pip_requirements
        )


name = "bench"
seconds = []
for m, score, c in models[: CFG["versions"]]:
    t = time.perf_counter()
    register(name, m, score, c, reqs)
    seconds.append(time.perf_counter() - t)
inferred = []
mlflow.set_experiment("bench-inferred")
for m, score, c in models[CFG["versions"]:]:
    t = time.perf_counter()
    register("bench-inferred", m, score, c, None)
    inferred.append(time.perf_counter() - t)
middle = CFG["versions"] // 2 + 1
client.set_registered_model_alias(name, "production", str(middle))


def best_version():
    run = client.search_runs(
        [exp.experiment_id], order_by=["metrics.auc DESC"], max_results=1
    )[0]
    return client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")[0]


best = best_version()
loaded = mlflow.pyfunc.load_model(f"models:/{name}@production")
assert (loaded.predict(x[:5]) == models[middle - 1][0].predict(x[:5])).all()
print(json.dumps({
    "version": mlflow.__version__,
    "sklearn": sklearn.__version__,
    "register": register_stats(seconds),
    "register_default_requirements": register_stats(inferred) if inferred else None,
    "best_version": timed(best_version, CFG["warmup"], CFG["runs"]),
    "best_version_result": int(best.version),
    "load_by_alias": timed(
        lambda: mlflow.pyfunc.load_model(f"models:/{name}@production"), CFG["warmup"], CFG["runs"]
    ),
}))
"""
)


def run_side(python: Path, script: str, cfg: dict[str, Any], env: dict[str, str], cwd: Path) -> Any:
    t = time.perf_counter()
    res = subprocess.run(
        [str(python), "-c", script, json.dumps(cfg)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-4000:])
        raise SystemExit(f"benchmark side failed with exit code {res.returncode}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = round(time.perf_counter() - t, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--versions", type=int, default=300)
    ap.add_argument("--default-reqs-versions", type=int, default=3)
    ap.add_argument("--latency-runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--only", default="loopml,mlflow")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="Keep the stores in WORKDIR.")
    ap.add_argument("--loopml-python", type=Path, default=DEFAULT_LOOPML_PY)
    ap.add_argument("--mlflow-python", type=Path, default=DEFAULT_MLFLOW_PY)
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-models-")).absolute()
    work.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    cfg = {
        "versions": args.versions,
        "default_reqs_versions": args.default_reqs_versions,
        "runs": args.latency_runs,
        "warmup": args.warmup,
    }
    result: dict[str, Any] = {
        "benchmark": "models",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "params": {**cfg, "model": "StandardScaler+LogisticRegression, breast cancer"},
    }
    try:
        if "loopml" in only:
            home = work / "loopml"
            shutil.rmtree(home, ignore_errors=True)
            log(f"loopml: registering {args.versions} versions in {home}")
            env = {**base_env, "LOOPML_HOME": str(home)}
            result["loopml"] = run_side(args.loopml_python, LOOPML_SIDE, cfg, env, work)
            result["loopml"]["backend"] = "embedded: SQLite (WAL) + local blob store"
        if "mlflow" in only:
            root = work / "mlflow"
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            log(
                f"mlflow: registering {args.versions} versions (+{args.default_reqs_versions} "
                f"with inferred requirements) in {root}"
            )
            env = {**base_env, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
            mcfg = {**cfg, "tracking_uri": env["MLFLOW_TRACKING_URI"]}
            result["mlflow"] = run_side(args.mlflow_python, MLFLOW_SIDE, mcfg, env, root)
            result["mlflow"]["backend"] = "SQLite tracking + registry, local artifacts"
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if "loopml" in result and "mlflow" in result:
        lo, ml = result["loopml"], result["mlflow"]
        speedup = ml["register"]["per_version_s"] / lo["register"]["per_version_s"]
        result["comparison"] = {
            "register_speedup": round(speedup, 2),
            "best_version_speedup": round(
                ml["best_version"]["median_ms"] / lo["best_version"]["median_ms"], 2
            ),
            "load_by_alias_speedup": round(
                ml["load_by_alias"]["median_ms"] / lo["load_by_alias"]["median_ms"], 2
            ),
        }
    if "loopml" in result:
        lo = result["loopml"]
        result["targets"] = {
            "e_register_at_least_5x_faster_than_mlflow": (
                result["comparison"]["register_speedup"] >= 5 if "comparison" in result else None
            ),
            "f_best_version_at_most_20ms": lo["best_version"]["median_ms"] <= 20,
            "f_load_by_alias_at_most_20ms": lo["load_by_alias"]["median_ms"] <= 20,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
