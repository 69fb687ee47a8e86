"""Built-in actions and the model and alert sources: a new model version runs the gated
production pipeline, the alias move it makes fires an alias trigger, a monitor alert fires an
alert trigger (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopml.api.events import MonitorAlert
from loopml.api.triggers import JobStatus, TriggerSpec
from loopml.core.errors import Conflict
from loopml.meta.events import append_event
from loopml.sdk import Client
from loopml.triggers.lifecycle import check_job_transition


def _register(client: Client, accuracy: float) -> int:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    return client.models.register("m", model, metrics={"accuracy": accuracy}).version


def test_new_model_version_runs_the_gated_production_pipeline_and_the_alias_move_fires(
    client: Client, pipeline_file: Path
) -> None:
    _register(client, 0.80)
    client.deployments.deploy("m", version=1)
    triggers = client.services.triggers
    triggers.add(
        TriggerSpec(
            "promote",
            "model:m",
            "run_production",
            {"name": "m", "select": "best:accuracy", "gate": "accuracy > production"},
        )
    )
    triggers.add(
        TriggerSpec(
            "moved", "model:m@production", f"{pipeline_file}:training", {"dataset": "{event.ref}"}
        )
    )
    triggers.add(TriggerSpec("quality", "alert:m@production", "run_production", {"name": "m"}))
    assert _register(client, 0.90) == 2
    assert triggers.poll() == 1
    job = triggers.work()
    assert job is not None and job.status == JobStatus.SUCCEEDED
    assert job.result is not None and job.result["status"] == "deployed"
    assert client.models.show("m@production").version == 2
    assert triggers.poll() == 1  # the alias moved: an event of its own
    [moved] = triggers.firings("moved")
    assert moved.event["version"] == 2 and moved.event["alias"] == "production"
    with client.stores.meta.write() as conn:
        append_event(
            conn, MonitorAlert("m@production", "m", 1, 1, "drift_share > 0.3", "0.5", 0.0, 1.0)
        )
    assert triggers.poll() == 1
    [alert] = triggers.firings("quality")
    assert alert.event["rule"] == "drift_share > 0.3"


def test_job_lifecycle_allows_only_its_moves() -> None:
    check_job_transition(1, JobStatus.QUEUED, JobStatus.RUNNING)
    check_job_transition(1, JobStatus.RUNNING, JobStatus.QUEUED)  # retry or lease lost
    for old, new in (
        (JobStatus.SUCCEEDED, JobStatus.RUNNING),
        (JobStatus.QUEUED, JobStatus.SUCCEEDED),
        (JobStatus.CANCELLED, JobStatus.QUEUED),
    ):
        with pytest.raises(Conflict):
            check_job_transition(1, old, new)
