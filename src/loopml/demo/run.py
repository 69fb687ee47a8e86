"""``loopml demo``: the loop so far, on generated data in the embedded store."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.demo.data import make_churn


def run_demo(
    seed: int = 7,
    quiet: bool = False,
    render_diff: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every block built so far; ``render_diff`` draws a dataset diff for people."""
    from rich.console import Console

    from loopml.sdk import default_client

    c = Console(quiet=quiet, highlight=False)
    client = default_client()
    c.rule("[bold]loopml demo[/]")
    c.print(f"store: {client.settings.db_url}  blobs: {client.settings.blobs_url}\n")

    c.print("[bold]1. dataset registry[/] — two versions of a churn table, the second drifted")
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "churn.csv"
        make_churn(2000, seed=seed, drift=0.0).to_csv(first, index=False)
        v1 = client.datasets.push("churn", first, message="January export", meta={"source": "demo"})
        second = Path(tmp) / "v2" / "churn.csv"
        second.parent.mkdir()
        make_churn(2400, seed=seed + 1, drift=0.6).to_csv(second, index=False)
        v2 = client.datasets.push(
            "churn", second, message="February export", meta={"source": "demo"}
        )
    for r in (v1, v2):
        state = "created" if r.created else "unchanged, already stored as"
        c.print(f"  push → {state} {r.version.ref} ({r.version.total_bytes} bytes)")
    diff = client.datasets.diff(v1.version.ref, v2.version.ref)
    if not quiet and render_diff is not None:
        render_diff(diff)
    summary: dict[str, Any] = {
        "datasets": {"v1": v1.version.ref, "v2": v2.version.ref, "diff": diff}
    }

    c.print("\n[bold]2. experiment tracking and model registry[/] — two candidates on churn@1")
    from loopml.demo.models import train_and_register

    summary["models"] = train_and_register(client, v1.version.ref, quiet=quiet)

    c.print(
        "\n[bold]3. production[/] — serve churn@production, send traffic and feedback, then"
        " retrain on churn@2 with the pipeline (prepare → train → evaluate → register →"
        " deploy_if → deploy) while requests keep coming"
    )
    from loopml.demo.models import features
    from loopml.demo.training_pipeline import run_training_demo
    from loopml.serving.demo import run_serving_demo

    def retrain() -> dict[str, Any]:
        before = client.models.show("churn@production").version
        result = run_training_demo(client, params={"dataset": v2.version.ref}, quiet=quiet)
        after = client.models.show("churn@production").version
        return {"pipeline": result, "deployed_version": after if after != before else None}

    fresh = client.datasets.load(v2.version.ref)
    summary["production"] = run_serving_demo(
        client.services,
        "churn",
        rows=features(fresh),
        labels=fresh["churned"],
        metric="auc",
        console=c,
        deploy=retrain,
    )
    return summary
