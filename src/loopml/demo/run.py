"""``loopml demo``: the loop so far, on generated data in the embedded store.

Every line it prints comes from what the calls returned, so a second run says what it really
did (reused the dataset versions, registered new candidates, left production where it was)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.demo.data import make_churn

if TYPE_CHECKING:
    from loopml.sdk import Client

DATASET = "demo-churn"  # not "churn": the README's walk-through uses that name in the same home
MODEL = "demo-churn"


def run_demo(
    size: Callable[[float], str],
    seed: int = 7,
    quiet: bool = False,
    render_diff: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every block built so far; ``render_diff`` draws a dataset diff for people and
    ``size`` formats a number of bytes."""
    from rich.console import Console

    from loopml.sdk import default_client

    c = Console(quiet=quiet, highlight=False)
    client = default_client()
    c.rule("[bold]loopml demo[/]")
    c.print(f"store: {client.settings.db_url}  blobs: {client.settings.blobs_url}\n")

    c.print("[bold]1. dataset registry[/] — two versions of a churn table, the second drifted")
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "v1" / "churn.csv"
        second = Path(tmp) / "v2" / "churn.csv"
        first.parent.mkdir()
        second.parent.mkdir()
        make_churn(2000, seed=seed, drift=0.0).to_csv(first, index=False)
        make_churn(2400, seed=seed + 1, drift=0.6).to_csv(second, index=False)
        v1, said1 = push_once(client, DATASET, first, "January export", size)
        v2, said2 = push_once(client, DATASET, second, "February export", size)
    c.print(f"  {said1}\n  {said2}")
    diff = client.datasets.diff(v1.ref, v2.ref)
    if not quiet and render_diff is not None:
        render_diff(diff)
    summary: dict[str, Any] = {
        "datasets": {"v1": v1.ref, "v2": v2.ref, "said": [said1, said2], "diff": diff}
    }

    c.print(f"\n[bold]2. experiment tracking and model registry[/] — two candidates on {v1.ref}")
    from loopml.demo.models import train_and_register

    summary["models"] = train_and_register(client, v1.ref, model_name=MODEL, quiet=quiet)

    c.print(
        f"\n[bold]3. production[/] — serve {MODEL}@production, send traffic and feedback, then"
        f" retrain on {v2.ref} with the pipeline (prepare → train → evaluate → register →"
        " deploy_if → deploy) while requests keep coming"
    )
    from loopml.demo.models import features
    from loopml.demo.training_pipeline import run_training_demo
    from loopml.serving.demo import run_serving_demo

    def retrain() -> dict[str, Any]:
        before = client.models.show(f"{MODEL}@production").version
        params = {"dataset": v2.ref, "model_name": MODEL}
        result = run_training_demo(client, params=params, quiet=quiet)
        after = client.models.show(f"{MODEL}@production").version
        if after != before:
            c.print(f"  production: {MODEL}@production moved from version {before} to {after}")
        else:
            c.print(f"  production: {MODEL}@production stays at version {before}")
        return {"pipeline": result, "deployed_version": after if after != before else None}

    fresh = client.datasets.load(v2.ref)
    served_from = time.time()
    summary["production"] = run_serving_demo(
        client.services,
        MODEL,
        rows=features(fresh),
        labels=fresh["churned"],
        metric="auc",
        console=c,
        deploy=retrain,
    )

    c.print(
        f"\n[bold]4. monitoring[/] — the customers change and so does who churns; the monitor "
        f"of {MODEL}@production compares the new traffic with the traffic above"
    )
    from loopml.demo.monitor import run_monitoring_demo
    from loopml.demo.triggers import add_alert_trigger

    add_alert_trigger(client, DATASET, MODEL, console=c)

    summary["monitoring"] = run_monitoring_demo(
        client, MODEL, reference=(served_from, time.time()), seed=seed, console=c
    )

    c.print(
        f"\n[bold]5. triggers[/] — a dataset:{DATASET} trigger retrains when a new version"
        f" arrives, the alert:{MODEL}@production trigger on the monitor's alerts; the"
        " pipeline's gate decides whether a retrained version goes to production"
    )
    from loopml.demo.triggers import run_trigger_demo

    summary["triggers"] = run_trigger_demo(
        client,
        DATASET,
        MODEL,
        seed=seed,
        console=c,
        push=lambda path: push_once(client, DATASET, path, "March export", size),
    )
    return summary


def push_once(
    client: Client, name: str, path: Path, message: str, size: Callable[[float], str]
) -> tuple[Any, str]:
    """Push the file at ``path`` unless a version of ``name`` already holds exactly these bytes
    (any version, not only the latest); the version and a line saying which happened."""
    import blake3

    from loopml.core.errors import NotFound

    data = path.read_bytes()
    wanted = [(path.name, len(data), blake3.blake3(data).hexdigest())]
    try:
        existing = client.datasets.versions(name)
    except NotFound:
        existing = []
    for v in existing:
        if v.file_count == 1 and v.total_bytes == len(data):
            files = client.datasets.show(v.ref).files
            if [(f.path, f.size, f.digest) for f in files] == wanted:
                return v, f"dataset {name}: version {v.version} already has this content (reused)"
    result = client.datasets.push(name, path, message=message, meta={"source": "demo"})
    v = result.version
    if not result.created:
        return v, f"dataset {name}: version {v.version} already has this content (reused)"
    return v, (
        f"dataset {name}: created version {v.version} ({message}, {size(v.total_bytes)}, "
        f"{size(result.bytes_new)} new in the store)"
    )
