"""The demo's last act: traffic shifts and its labels turn, and the monitor notices.

The endpoint serves ``MODEL@production`` again; shifted customers (older, higher bills, more
support calls) are sent in requests of several rows and their labels (which the model now gets
mostly wrong) as feedback by row. The monitor compares that window with the traffic of the
production act, finds the drifted features and the accuracy drop, and fires its alerts."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from loopml.core.errors import NotFound
from loopml.core.times import iso

if TYPE_CHECKING:
    from loopml.sdk import Client

RULES = ("dataset_drift", "accuracy < registered - 0.05")


def run_monitoring_demo(
    client: Client,
    model: str,
    *,
    reference: tuple[float, float],
    seed: int = 7,
    rows: int = 600,
    console: Any = None,
) -> dict[str, Any]:
    """Send shifted traffic and feedback, then run the monitor of ``model@production``
    against the traffic logged between ``reference`` (start, end)."""
    from loopml.demo.data import make_churn
    from loopml.demo.models import features
    from loopml.serving.app import ServingApp
    from loopml.serving.config import ServeConfig
    from loopml.serving.server import BackgroundServer

    say = console.print if console is not None else (lambda *_a, **_k: None)
    deployment = f"{model}@production"
    try:
        spec = client.monitoring.get(deployment)
        say(f"  monitor of {deployment}: already there (reference {spec.reference})")
    except NotFound:
        lo, hi = reference
        spec = client.monitoring.add(
            deployment, reference=f"traffic:{iso(lo)}/{iso(hi + 1)}", rules=list(RULES)
        )
        say(
            f"  loopml monitor add {deployment} --reference {spec.reference} "
            + " ".join(f"--rule '{r}'" for r in RULES)
        )
    config = ServeConfig(deployment, port=0, poll_interval_s=0.2, log_flush_s=0.2)
    app = ServingApp(config, client.services)
    server = BackgroundServer(app)
    shifted = make_churn(rows, seed=seed + 2, drift=1.0)
    columns = [c.name for c in app.prepare().schema.columns]
    x = features(shifted).reindex(columns=columns, fill_value=0.0)
    # the world changed: who churns now is the opposite of what the model learned
    turned = (1 - shifted["churned"]).tolist()
    started = time.time()
    url = server.start()
    sent = labelled = 0
    try:
        for i in range(0, len(x), 6):
            part = x.iloc[i : i + 6]
            out = _post(url + "/predict", {"records": part.to_dict(orient="records")})
            items = [
                {"request_id": out["request_id"], "row": j, "label": int(turned[i + j])}
                for j in range(len(part))
            ]
            labelled += int(_post(url + "/feedback", items)["accepted"])
            sent += 1
    finally:
        server.stop()  # writes what the log still holds
    say(f"  sent {len(x)} shifted rows in {sent} requests and {labelled} label(s), one per row")
    result = client.monitoring.run(deployment, since=started, until=time.time() + 1)
    drift, quality = result.drift, result.quality
    drifted = list(drift.drifted_columns) if drift is not None else []
    say(
        f"  loopml monitor run {deployment}: {result.rows} prediction(s) against {result.reference}"
    )
    if drift is not None:
        say(
            f"  drifted: {', '.join(drifted) or 'nothing'} ({len(drifted)} of {drift.compared} "
            f"feature(s)); dataset drift: {drift.dataset_drift}"
        )
    accuracy = None if quality is None else quality.metrics.get("accuracy")
    registered = result.registered.get("accuracy")
    if accuracy is not None and registered is not None:
        say(f"  accuracy from feedback: {accuracy:.3f} (registered {registered:.3f})")
    for alert in result.alerts:
        say(f"  [red]ALERT[/] {alert.rule}: {alert.evidence}")
    say(f"  report: loopml monitor report {deployment} --html report.html")
    return {
        "monitor": deployment,
        "result_id": result.id,
        "rows": result.rows,
        "drifted": drifted,
        "dataset_drift": None if drift is None else drift.dataset_drift,
        "accuracy": accuracy,
        "registered_accuracy": registered,
        "alerts": [a.rule for a in result.alerts],
    }


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as res:
        return json.loads(res.read())
