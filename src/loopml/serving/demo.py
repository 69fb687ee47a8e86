"""The serving part of ``loopml demo``: serve ``NAME@production``, send a burst of requests and
their ground truth, deploy the better version behind a gate while requests keep coming, and
show the endpoint switching versions without a failed request."""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from loopml.serving.app import ServingApp
from loopml.serving.config import ServeConfig
from loopml.serving.predlog import read_log
from loopml.serving.server import BackgroundServer


def _post(url: str, body: Any) -> tuple[int, dict[str, Any], float]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, out = res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        status, out = exc.code, json.loads(exc.read() or b"{}")
    except OSError as exc:  # connection refused or reset: a failed request
        status, out = 0, {"error": str(exc)}
    return status, out, (time.perf_counter() - start) * 1000


def _records(rows: Any) -> list[dict[str, Any]]:
    if hasattr(rows, "to_json"):  # a DataFrame: JSON-safe Python values
        return list(json.loads(rows.to_json(orient="records")))
    return list(rows)


def _summary(results: list[tuple[int, dict[str, Any], float]]) -> dict[str, Any]:
    ms = sorted(r[2] for r in results)
    return {
        "requests": len(results),
        "failed": sum(1 for r in results if r[0] != 200),
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2) if ms else None,
    }


def run_serving_demo(
    services: Any,  # from loopml.connect(): models, deployments and the stores
    name: str,
    rows: Any,
    labels: Any = None,
    *,
    metric: str = "accuracy",
    burst: int = 200,
    concurrency: int = 8,
    console: Any = None,
    deploy: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Serve ``name@production`` on a free loopback port and show the production loop.

    ``rows`` (a DataFrame or a list of dicts, the model's input columns) feed the requests;
    ``labels`` (same length) become feedback. ``name`` needs a ``production`` alias and a
    version with a better ``metric``, which the demo deploys with the gate
    ``METRIC >= production``. ``deploy``, if given, replaces that step (a training pipeline that
    ends in ``deploy_if``, say) and returns a dict whose ``"deployed_version"`` is the version
    it put in production, or None.
    """
    say = console.print if console is not None else (lambda *_a, **_k: None)
    records = _records(rows)
    truth: list[Any] | None = None
    if labels is not None:  # numpy or pandas labels as plain Python values
        truth = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    config = ServeConfig(f"{name}@production", port=0, poll_interval_s=0.2, log_flush_s=0.2)
    log_dir = config.log_path(services.settings)
    # what earlier runs logged, so the summary counts this run's rows, not the folder's
    earlier = {kind: read_log(log_dir, kind, name).num_rows for kind in ("predictions", "feedback")}
    app = ServingApp(config, services)
    server = BackgroundServer(app)
    url = server.start()
    try:
        before = app.prepare().version
        say(f"  serving {name}@production (version {before}) at {url}")
        sent: list[tuple[int, dict[str, Any], float]] = []

        def one(i: int) -> tuple[int, dict[str, Any], float]:
            start = (i * 3) % max(1, len(records) - 3)
            return _post(url + "/predict", {"records": records[start : start + 1 + i % 3]})

        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            sent = list(pool.map(one, range(burst)))
        burst_stats = _summary(sent)
        say(
            f"  burst: {burst_stats['requests']} requests from {concurrency} clients, "
            f"{burst_stats['failed']} failed, p50 {burst_stats['p50_ms']} ms, p99 {burst_stats['p99_ms']} ms"
        )
        feedback = 0
        if truth is not None:
            items = []
            for i, (status, out, _ms) in enumerate(sent):
                start = (i * 3) % max(1, len(records) - 3)
                if status == 200 and start < len(truth):
                    items.append({"request_id": out["request_id"], "label": truth[start]})
            status, out, _ms = _post(url + "/feedback", items)
            feedback = int(out.get("accepted", 0)) if status == 200 else 0
            say(f"  feedback: {feedback} ground-truth label(s) sent for those requests")

        during: list[tuple[int, dict[str, Any], float]] = []
        stop = threading.Event()

        def load() -> None:
            i = 0
            while not stop.is_set():
                during.append(one(i))
                i += 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        if deploy is None:
            record = services.deployments.deploy(
                name, select=f"best:{metric}", gate=f"{metric} >= production"
            )
            say(
                f"  deploy {name} --select best:{metric} --gate '{metric} >= production': "
                f"{record.status.value} version {record.version} ({record.reason})"
            )
            deployment = record.to_dict()
            deployed = record.version if record.deployed else None
        else:
            deployment = deploy()
            deployed = deployment.get("deployed_version")
        deadline = time.monotonic() + 30
        target = deployed or before
        while time.monotonic() < deadline and not any(
            r[1].get("version") == target for r in during[-20:]
        ):
            stop.wait(0.05)
        stop.wait(0.5)
        stop.set()
        for t in threads:
            t.join(30)
        swap = _summary(during)
        # Versions in order of first answer: four clients overlap, so an answer from the old
        # version can still arrive just after the first one from the new.
        seen = list(
            dict.fromkeys(
                out["version"]
                for status, out, _ms in during
                if status == 200 and isinstance(out.get("version"), int)
            )
        )
        swap["versions_seen"] = seen
        say(
            f"  during the deployment: {swap['requests']} requests, {swap['failed']} failed; "
            f"versions answered: {' → '.join(map(str, seen))}"
        )
        _status, meta, _ms = _post_get(url + "/metadata")
    finally:
        server.stop()
    logged = {
        "prediction_rows": read_log(log_dir, "predictions", name).num_rows - earlier["predictions"],
        "feedback_rows": read_log(log_dir, "feedback", name).num_rows - earlier["feedback"],
        "folder": str(log_dir),
    }
    say(
        f"  logged {logged['prediction_rows']} prediction row(s) and "
        f"{logged['feedback_rows']} label(s) under {log_dir}"
    )
    return {
        "endpoint": url,
        "served_before": before,
        "served_after": meta.get("version"),
        "burst": burst_stats,
        "feedback": feedback,
        "deployment": deployment,
        "during_deployment": swap,
        "log": logged,
    }


def _post_get(url: str) -> tuple[int, dict[str, Any], float]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as res:
        return res.status, json.loads(res.read()), (time.perf_counter() - start) * 1000
