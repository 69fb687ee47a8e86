"""Serving benchmark: ``loopml serve`` against ``mlflow models serve``, a BentoML service (with
and without adaptive batching), a bare FastAPI + uvicorn app calling ``predict``, and two floors
in loopml's own venv, on the same machine, in one run, with the same model and load generator:

- ``floor-predict``: a bare Starlette app that parses the body with orjson and calls the same
  model's ``predict`` on a numpy array: no validation, no logging, no batching. loopml without
  batching is compared with it (what our validation, logging and metrics cost).
- ``floor-arith``: the same app computing the prediction as plain arithmetic from the fitted
  coefficients (no scikit-learn call): the HTTP + JSON limit of one uvicorn worker. loopml
  with batching is compared with it.

Ratios in ``summary`` pair like with like: loopml without batching against MLflow and BentoML
without batching and against ``floor-predict``; loopml with batching against BentoML with
batching and against ``floor-arith``. Every cell is the best of ``--repeat`` wrk runs (default
3), all of them shown in ``runs_rps``; the load average before and after is recorded.

Usage (project venv; the others come from ``benchmarks/setup_serving_venvs.sh``)::

    bash benchmarks/setup_serving_venvs.sh
    .venv/bin/python benchmarks/bench_serving.py > benchmarks/results/serving.json
    .venv/bin/python benchmarks/bench_serving.py --duration 5 --only loopml,bare

The model: ``LogisticRegression(max_iter=5000)`` fitted on scikit-learn's bundled breast-cancer
data as a DataFrame (30 named float features); each side fits it in its own venv (same
scikit-learn version, deterministic solver, so the same coefficients). Load: ``wrk`` (Debian's
package) with a Lua script posting one fixed body, 1 and 100 rows per request, at 1, 8 and 64
connections, ``--duration`` seconds each. The server is pinned to core 0 and wrk to core 1
(``taskset``). Reported per cell: requests/s, p50 and p99 (wrk's latency percentiles), errors
and non-2xx answers; per server: start-up time (process start to the first successful
prediction), idle RSS (after start-up, before load) and RSS after the load (summed over the
server's process tree). One JSON object goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOOPML_PY = REPO / ".venv" / "bin" / "python"
MLFLOW_VENV = HERE / ".venv-mlflow"
BENTO_VENV = HERE / ".venv-bentoml"
SERVER_CORE, CLIENT_CORE = "0", "1"
_T0 = time.perf_counter()

FIT = textwrap.dedent(
    """
    import sys
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(x, y)
    """
)

LUA = textwrap.dedent(
    """
    local f = io.open(os.getenv("BENCH_BODY"), "r")
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/json"
    done = function(summary, latency, requests)
      local e = summary.errors
      io.write(string.format(
        'BENCH {"requests": %d, "duration_us": %d, "socket_errors": %d, "non2xx": %d, '
        .. '"p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\\n',
        summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
    end
    """
)

BARE_APP = textwrap.dedent(
    """
    import pickle
    import pandas as pd
    from fastapi import FastAPI, Request

    model = pickle.load(open("MODEL_PATH", "rb"))
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request):
        body = await request.json()
        return {"predictions": model.predict(pd.DataFrame(body["records"])).tolist()}
    """
)

BENTO_SERVICE = textwrap.dedent(
    """
    import pickle
    import numpy as np
    import pandas as pd
    import bentoml

    with open("MODEL_PATH", "rb") as f:
        MODEL = pickle.load(f)
    NAMES = list(MODEL.feature_names_in_)


    @bentoml.service(workers=1, traffic={"timeout": 60})
    class Cancer:
        @bentoml.api(BATCH_OPTIONS)
        def predict(self, data: np.ndarray) -> np.ndarray:
            return MODEL.predict(pd.DataFrame(data, columns=NAMES))
    """
)


FLOOR_APP = textwrap.dedent(
    """
    import pickle
    import numpy as np
    import orjson
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    model = pickle.load(open("MODEL_PATH", "rb"))
    NAMES = list(model.feature_names_in_)
    # predict on a bare array without scikit-learn's feature-name check and its warning
    del model.feature_names_in_
    COEF = [float(c) for c in model.coef_[0]]
    BIAS = float(model.intercept_[0])
    CLASSES = [int(c) for c in model.classes_]


    async def predict(request):
        body = orjson.loads(await request.body())
        records = body["records"]
        if ARITH:
            out = []
            for rec in records:
                score = BIAS
                for name, w in zip(NAMES, COEF):
                    score += w * rec[name]
                out.append(CLASSES[1] if score > 0 else CLASSES[0])
        else:
            x = np.array([[rec[name] for name in NAMES] for rec in records], dtype=np.float64)
            out = model.predict(x).tolist()
        return Response(orjson.dumps({"predictions": out}), media_type="application/json")


    app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    """
)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, MiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def post(url: str, body: bytes, timeout: float = 5.0) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return int(res.status)
    except Exception:
        return 0


class Server:
    """A server process (its own session, so its whole tree is stopped by its group id)."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        url: str,
        bodies: dict[int, Path],
        env: dict[str, str],
        cwd: Path,
    ) -> None:
        self.name, self.cmd, self.url, self.bodies, self.env, self.cwd = (
            name,
            cmd,
            url,
            bodies,
            env,
            cwd,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> float:
        body = self.bodies[1].read_bytes()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *self.cmd],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=open(self.cwd / f"{self.name}.log", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited {self.proc.returncode}; see {self.cwd}/{self.name}.log"
                )
            if post(self.url, body, timeout=2.0) == 200:
                return round(time.perf_counter() - t0, 3)
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s")

    def rss(self) -> float:
        assert self.proc is not None
        return tree_rss_mib(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(10)


def wrk(url: str, body: Path, connections: int, duration: int, lua: Path) -> dict[str, Any]:
    env = {**os.environ, "BENCH_BODY": str(body)}
    out = subprocess.run(
        [
            "taskset",
            "-c",
            CLIENT_CORE,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[6:])
    data["rps"] = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    return data


def prepare(work: Path, only: set[str]) -> dict[str, Server]:
    """Fit the model in each venv, store it the way each tool expects, write the bodies."""
    log("fitting the model and writing request bodies (loopml venv)")
    home = work / "loopml-home"
    script = FIT + textwrap.dedent(
        f"""
        import json
        from loopml.core.settings import load_settings
        from loopml.sdk import Client
        c = Client(load_settings(env={{}}, home={str(home)!r}))
        c.models.register("cancer", model, input_example=x.head(5), metrics={{"accuracy": float(model.score(x, y))}})
        c.models.set_alias("cancer", "production", 1)
        c.close()
        import pickle, warnings
        warnings.simplefilter("ignore")
        pickle.dump(model, open({str(work / "floor-model.pkl")!r}, "wb"))
        for n in (1, 100):
            rec = x.head(n).to_dict(orient="records")
            json.dump({{"records": rec}}, open({str(work)!r} + f"/records-{{n}}.json", "w"))
            json.dump({{"dataframe_records": rec}}, open({str(work)!r} + f"/mlflow-{{n}}.json", "w"))
            json.dump({{"data": x.head(n).to_numpy().tolist()}}, open({str(work)!r} + f"/bento-{{n}}.json", "w"))
        """
    )
    subprocess.run([str(LOOPML_PY), "-c", script], check=True)
    servers: dict[str, Server] = {}
    records = {n: work / f"records-{n}.json" for n in (1, 100)}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    base_env["PYTHONWARNINGS"] = "ignore"
    loopml_env = {**base_env, "LOOPML_HOME": str(home)}
    loopml = str(REPO / ".venv" / "bin" / "loopml")
    for name, extra in (("loopml", []), ("loopml-no-batching", ["--max-batch-size", "1"])):
        port = free_port()
        servers[name] = Server(
            name,
            [loopml, "serve", "cancer@production", "--port", str(port), *extra],
            f"http://127.0.0.1:{port}/predict",
            records,
            loopml_env,
            work,
        )
    for name, arith in (("floor-predict", False), ("floor-arith", True)):
        module = name.replace("-", "_") + "_app"
        (work / f"{module}.py").write_text(
            FLOOR_APP.replace("MODEL_PATH", str(work / "floor-model.pkl")).replace(
                "ARITH", str(arith)
            )
        )
        port = free_port()
        servers[name] = Server(
            name,
            [
                str(LOOPML_PY),
                "-m",
                "uvicorn",
                f"{module}:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            f"http://127.0.0.1:{port}/predict",
            records,
            base_env,
            work,
        )
    if {"mlflow", "bare"} & only or not only:
        py = str(MLFLOW_VENV / "bin" / "python")
        log("fitting and saving the model for MLflow and the bare app (MLflow venv)")
        subprocess.run(
            [
                py,
                "-c",
                FIT
                + textwrap.dedent(f"""
                import pickle, mlflow.sklearn
                mlflow.sklearn.save_model(model, {str(work / "mlflow-model")!r}, pip_requirements=["scikit-learn"])
                pickle.dump(model, open({str(work / "model.pkl")!r}, "wb"))
                """),
            ],
            check=True,
            env=base_env,
        )
        port = free_port()
        servers["mlflow"] = Server(
            "mlflow",
            [
                str(MLFLOW_VENV / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(work / "mlflow-model"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "--env-manager",
                "local",
                "-w",
                "1",
            ],
            f"http://127.0.0.1:{port}/invocations",
            {n: work / f"mlflow-{n}.json" for n in (1, 100)},
            # mlflow execs ``uvicorn`` from PATH
            {**base_env, "PATH": f"{MLFLOW_VENV / 'bin'}:{base_env.get('PATH', '')}"},
            work,
        )
        (work / "bare_app.py").write_text(BARE_APP.replace("MODEL_PATH", str(work / "model.pkl")))
        port = free_port()
        servers["bare"] = Server(
            "bare",
            [
                py,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            f"http://127.0.0.1:{port}/predict",
            records,
            base_env,
            work,
        )
    if {"bentoml", "bentoml-batching"} & only or not only:
        py = str(BENTO_VENV / "bin" / "python")
        log("fitting the model for BentoML (BentoML venv)")
        subprocess.run(
            [
                py,
                "-c",
                FIT
                + f"import pickle; pickle.dump(model, open({str(work / 'bento-model.pkl')!r}, 'wb'))",
            ],
            check=True,
            env=base_env,
        )
        for name, opts in (
            ("bentoml", ""),
            ("bentoml-batching", "batchable=True, max_batch_size=256, max_latency_ms=1000"),
        ):
            module = name.replace("-", "_") + "_service"
            (work / f"{module}.py").write_text(
                BENTO_SERVICE.replace("MODEL_PATH", str(work / "bento-model.pkl")).replace(
                    "BATCH_OPTIONS", opts
                )
            )
            port = free_port()
            servers[name] = Server(
                name,
                [
                    str(BENTO_VENV / "bin" / "bentoml"),
                    "serve",
                    f"{module}:Cancer",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                f"http://127.0.0.1:{port}/predict",
                {n: work / f"bento-{n}.json" for n in (1, 100)},
                {
                    **base_env,
                    "BENTOML_DO_NOT_TRACK": "true",
                    "BENTOML_HOME": str(work / "bentoml-home"),
                },
                work,
            )
    return {k: v for k, v in servers.items() if not only or k in only}


def run_server(
    server: Server,
    lua: Path,
    duration: int,
    rows: list[int],
    conns: list[int],
    settle_s: float,
    repeat: int = 1,
) -> dict[str, Any]:
    log(f"{server.name}: starting")
    result: dict[str, Any] = {"startup_s": server.start()}
    time.sleep(settle_s)  # let background start-up work finish before reading idle memory
    result["idle_rss_mib"] = server.rss()
    cells = []
    try:
        for n in rows:
            for c in conns:
                runs = [wrk(server.url, server.bodies[n], c, duration, lua) for _ in range(repeat)]
                cell = max(runs, key=lambda r: r["rps"])  # best of ``repeat``, as usually reported
                cell.update(rows=n, connections=c, runs_rps=[r["rps"] for r in runs])
                cells.append(cell)
                log(
                    f"{server.name}: {n:>3} rows x {c:>2} conns: {cell['rps']:>8.1f} req/s, p50 {cell['p50_ms']:.2f} ms, p99 {cell['p99_ms']:.2f} ms, errors {cell['socket_errors'] + cell['non2xx']}"
                )
        result["rss_after_load_mib"] = server.rss()
    finally:
        server.stop()
    result["cells"] = cells
    return result


# (ours, theirs): loopml without batching against unbatched peers and the predict floor,
# loopml with batching against batched BentoML and the HTTP + JSON floor.
PAIRS = (
    ("loopml-no-batching", "mlflow"),
    ("loopml-no-batching", "bentoml"),
    ("loopml-no-batching", "floor-predict"),
    ("loopml", "bentoml-batching"),
    ("loopml", "floor-arith"),
    ("loopml", "loopml-no-batching"),
)


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Throughput ratios per cell for each like-with-like pair present in ``results``."""
    out: dict[str, Any] = {}
    for ours, theirs in PAIRS:
        if ours not in results or theirs not in results:
            continue
        by_cell = {(c["rows"], c["connections"]): c for c in results[theirs]["cells"]}
        cells = {}
        for cell in results[ours]["cells"]:
            other = by_cell.get((cell["rows"], cell["connections"]))
            if other and other["rps"] > 0:
                cells[f"{cell['rows']}rows x {cell['connections']}conn"] = {
                    "ratio_rps": round(cell["rps"] / other["rps"], 3),
                    "p99_ms": [cell["p99_ms"], other["p99_ms"]],
                }
        out[f"{ours} / {theirs}"] = cells
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--rows", default="1,100")
    ap.add_argument("--connections", default="1,8,64")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated: loopml,loopml-no-batching,mlflow,bentoml,bentoml-batching,bare,"
        "floor-predict,floor-arith",
    )
    ap.add_argument(
        "--settle", type=float, default=2.0, help="seconds between ready and reading idle RSS"
    )
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--repeat", type=int, default=3, help="wrk runs per cell; the best is kept")
    args = ap.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset: apt-get install -y wrk util-linux")
    only = {s for s in args.only.split(",") if s}
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="loopml-bench-serving-", dir=args.workdir))
    lua = work / "post.lua"
    lua.write_text(LUA)
    servers = prepare(work, only)
    rows = [int(x) for x in args.rows.split(",")]
    conns = [int(x) for x in args.connections.split(",")]
    load_before = load_average()
    results = {
        name: run_server(s, lua, args.duration, rows, conns, args.settle, args.repeat)
        for name, s in servers.items()
    }
    load_after = load_average()
    print(
        json.dumps(
            {
                "benchmark": "serving",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "setup": {
                    "model": "LogisticRegression(max_iter=5000) on sklearn breast-cancer (30 features, DataFrame)",
                    "load": "wrk -t1, one fixed POST body",
                    "duration_s": args.duration,
                    "repeat": args.repeat,
                    "server_core": SERVER_CORE,
                    "client_core": CLIENT_CORE,
                    "loopml": "one worker, micro-batching on, prediction logging on (sample rate 1.0)",
                    "loopml-no-batching": "--max-batch-size 1 (one predict call per request), logging on",
                    "bentoml-batching": "batchable=True, max_batch_size=256, max_latency_ms=1000",
                },
                "load_average_before": load_before,
                "load_average_after": load_after,
                "results": results,
                "summary": summarize(results),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
