"""The demo's trigger: a ``dataset:`` trigger retrains (and, through the pipeline's gate,
redeploys) when a new version of the dataset arrives. The demo runs one controller pass and
one worker step itself, as ``loopml controller --once`` and ``loopml worker --once`` would."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import Conflict
from loopml.demo.data import make_churn
from loopml.demo.training_pipeline import SOURCE

if TYPE_CHECKING:
    from rich.console import Console

    from loopml.sdk import Client

TRIGGER = "demo-retrain"
ALERT_TRIGGER = "demo-retrain-on-alert"


def add_alert_trigger(client: Client, dataset: str, model: str, *, console: Console) -> None:
    """Before the monitor runs: an ``alert:`` trigger that retrains on the latest dataset
    version when the monitor of ``model@production`` raises an alert (at most once an hour)."""
    from loopml.api.triggers import TriggerSpec

    on = f"alert:{model}@production"
    params = {"dataset": dataset, "model_name": model}
    try:
        client.triggers.add(TriggerSpec(ALERT_TRIGGER, on, SOURCE, params, cooldown_s=3600.0))
        console.print(
            f"  trigger {ALERT_TRIGGER}: on {on} run {SOURCE} -p dataset={dataset} (cooldown 1h)"
        )
    except Conflict:
        console.print(f"  trigger {ALERT_TRIGGER}: already there (added by a former run)")


def run_trigger_demo(
    client: Client,
    dataset: str,
    model: str,
    *,
    seed: int,
    console: Console,
    push: Callable[[Path], tuple[Any, str]],
) -> dict[str, Any]:
    """Add the dataset trigger (or keep the one a former run added), push a new dataset
    version, and let the controller and a worker react to it and to the monitor's alerts;
    what happened, for the summary."""
    from loopml.api.triggers import TriggerSpec

    c = console
    triggers = client.triggers
    params = {"dataset": "{event.ref}", "model_name": model}
    try:
        triggers.add(TriggerSpec(TRIGGER, f"dataset:{dataset}", SOURCE, params))
        c.print(f"  trigger {TRIGGER}: on dataset:{dataset} run {SOURCE} -p dataset={{event.ref}}")
    except Conflict:
        c.print(f"  trigger {TRIGGER}: already there (added by a former run)")
    before = client.models.show(f"{model}@production").version
    with tempfile.TemporaryDirectory() as tmp:
        third = Path(tmp) / "v3" / "churn.csv"
        third.parent.mkdir()
        make_churn(2400, seed=seed + 2, drift=0.8).to_csv(third, index=False)
        version, said = push(third)
    c.print(f"  {said}")
    fired = triggers.poll()
    c.print(f"  controller: {fired} firing(s) recorded")
    jobs = []
    while (job := triggers.work()) is not None:
        jobs.append(job)
        c.print(
            f"  worker: job {job.id} of {job.trigger} ({job.params.get('dataset')}) "
            f"{job.status.value}, pipeline run {(job.run_id or '')[:12]}"
        )
    if not jobs:
        c.print("  worker: nothing to run (no new dataset version, nothing fired)")
    after = client.models.show(f"{model}@production").version
    if after != before:
        c.print(f"  production: {model}@production moved from version {before} to {after}")
    else:
        c.print(f"  production: {model}@production stays at version {before}")
    return {
        "dataset": version.ref,
        "fired": fired,
        "jobs": [
            {"id": j.id, "trigger": j.trigger, "status": j.status.value, "run_id": j.run_id}
            for j in jobs
        ],
        "deployed_version": after if after != before else None,
    }
