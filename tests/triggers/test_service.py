"""The triggers service in one process, over SQLite and PostgreSQL: matching, templates,
firing once, schedules with an injected clock, git commits, retries, cancel, webhook."""

from __future__ import annotations

from pathlib import Path

from loopml.api.triggers import JobStatus, TriggerSpec
from loopml.sdk import Client
from tests.triggers.conftest import append_dataset_events, make_datasets


def test_dataset_event_fires_once_and_the_worker_runs_the_pipeline_with_event_fields(
    client: Client, tmp_path: Path, pipeline_file: Path
) -> None:
    make_datasets(client, tmp_path, ["churn", "other"])
    triggers = client.services.triggers
    triggers.add(
        TriggerSpec(
            "retrain", "dataset:churn", f"{pipeline_file}:training", {"dataset": "{event.ref}"}
        )
    )
    append_dataset_events(client, [("churn", 2), ("other", 2), ("churn", 3)])
    assert triggers.poll() == 2
    assert triggers.poll() == 0  # the cursor moved: nothing fires twice
    done = [triggers.work(), triggers.work()]
    assert triggers.work() is None
    assert sorted(j.params["dataset"] for j in done if j) == ["churn@2", "churn@3"]
    assert all(j and j.status == JobStatus.SUCCEEDED and j.run_id for j in done)
    firings = triggers.firings("retrain")
    assert sorted(f.event["ref"] for f in firings) == ["churn@2", "churn@3"]
    assert all(f.event_key == f"event:{f.event['event_id']}" for f in firings)
    assert {f.run_id for f in firings} == {j.run_id for j in done if j}
    assert all(f.status == JobStatus.SUCCEEDED for f in firings)
    run = client.pipelines.get_run(done[0].run_id)  # type: ignore[union-attr,arg-type]
    assert run.status.value == "succeeded"


def test_a_new_trigger_ignores_history_and_a_disabled_one_records_nothing(
    client: Client, tmp_path: Path, pipeline_file: Path
) -> None:
    make_datasets(client, tmp_path, ["churn"])
    append_dataset_events(client, [("churn", 5)])
    triggers = client.services.triggers
    triggers.add(TriggerSpec("t", "dataset:churn", f"{pipeline_file}:training"))
    assert triggers.poll() == 0
    triggers.set_enabled("t", False)
    append_dataset_events(client, [("churn", 6)])
    assert triggers.poll() == 0
    triggers.set_enabled("t", False)
    append_dataset_events(client, [("churn", 7)])
    triggers.set_enabled("t", True)  # before any controller saw 7: still not fired
    assert triggers.poll() == 0
    append_dataset_events(client, [("churn", 8)])
    assert triggers.poll() == 1
    assert [f.event["version"] for f in triggers.firings("t")] == [8]


def test_cooldown_allows_one_firing_per_interval(
    client: Client, tmp_path: Path, pipeline_file: Path
) -> None:
    make_datasets(client, tmp_path, ["churn"])
    triggers = client.services.triggers
    triggers.add(TriggerSpec("t", "dataset:churn", f"{pipeline_file}:training", cooldown_s=60))
    append_dataset_events(client, [("churn", 2), ("churn", 3)])
    assert triggers.poll(now=1e9) == 1
    append_dataset_events(client, [("churn", 4)])
    assert triggers.poll(now=1e9 + 30) == 0
    append_dataset_events(client, [("churn", 5)])
    assert triggers.poll(now=1e9 + 61) == 1


def test_max_concurrent_holds_back_a_triggers_second_job_while_one_runs(
    client: Client, pipeline_file: Path
) -> None:
    from loopml.meta.lease import new_token, this_process
    from loopml.triggers.worker import claim

    triggers = client.services.triggers
    triggers.add(TriggerSpec("one", "manual", f"{pipeline_file}:training", max_concurrent=1))
    triggers.add(TriggerSpec("two", "manual", f"{pipeline_file}:training", max_concurrent=2))
    for name in ("one", "one", "two", "two"):
        triggers.fire(name)
    svc = client.services.triggers
    claimed = [claim(svc, this_process(new_token()), svc.clock()) for _ in range(4)]  # type: ignore[arg-type]
    assert [j.trigger if j else None for j in claimed] == ["one", "two", "two", None]
