"""The ``monitor`` action of a trigger, end to end in one process: a job runs the monitor of
a deployment, its result is stored and named by the job, and the alert it raises fires an
``alert:`` trigger whose job runs the monitor of the alerting deployment."""

from __future__ import annotations

from typing import Any

import pandas as pd

from loopml.api.triggers import JobStatus, TriggerSpec
from loopml.sdk import Client
from tests.monitoring.conftest import FEATURES, log_traffic, make_data


def test_a_monitor_job_stores_a_result_and_its_alert_fires_the_alert_trigger(
    client: Client, trained: tuple[Any, pd.DataFrame]
) -> None:
    client.monitoring.add("churn@production", rules=["dataset_drift"])
    shifted = make_data(400, seed=5, shift=1.0)
    log_traffic(client, shifted[FEATURES])
    triggers = client.services.triggers
    triggers.add(TriggerSpec("check", "manual", "monitor", {"deployment": "churn@production"}))
    triggers.add(TriggerSpec("recheck", "alert:churn@production", "monitor"))

    firing = triggers.fire("check")
    job = triggers.work()
    assert job is not None and job.id == firing.job_id and job.status == JobStatus.SUCCEEDED
    results = client.monitoring.results("churn@production")
    assert [r.id for r in results] == [job.result["monitor_result"]]
    assert results[0].drift is not None and results[0].drift.dataset_drift is True

    assert triggers.poll() == 1  # the alert that result raised
    (alerted,) = triggers.firings("recheck")
    assert alerted.event["deployment"] == "churn@production"
    again = triggers.work()
    assert again is not None and again.status == JobStatus.SUCCEEDED
    assert again.trigger == "recheck"
    assert len(client.monitoring.results("churn@production")) == 2
