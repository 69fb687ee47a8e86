"""The triggers service in one process, over SQLite and PostgreSQL: matching, templates,
firing once, schedules with an injected clock, git commits, retries, cancel, webhook."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from croniter import croniter

from loopml import Client, Conflict, InvalidInput, NotFound
from loopml.api.triggers import Catchup, JobStatus, TriggerSpec
from tests.triggers.conftest import make_datasets

pytestmark = pytest.mark.services("triggers", "pipelines", "datasets")


def push_versions(client: Client, tmp_path: Path, versions: list[tuple[str, int]]) -> None:
    """Push new content to each dataset, in order; each push is version ``n`` (checked), and
    appends its dataset.version_created event as any push does."""
    for name, n in versions:
        src = tmp_path / f"{name}-{n}.csv"
        src.write_text(f"a,b\n{n},{name}\n")
        assert client.datasets.push(name, src).version.version == n


@pytest.mark.local_only(
    "steps an injected clock (poll(now=...)); a pass over a server runs on its clock"
)
def test_schedule_fires_each_tick_once_and_catchup_skip_or_once(
    client: Client, pipeline_file: Path
) -> None:
    triggers = client.services.triggers
    skip = triggers.add(TriggerSpec("skip", "schedule:*/5 * * * *", f"{pipeline_file}:training"))
    once = triggers.add(
        TriggerSpec(
            "once", "schedule:*/5 * * * *", f"{pipeline_file}:training", catchup=Catchup.ONCE
        )
    )
    start = max(skip.created_at, once.created_at)
    tick = croniter("*/5 * * * *", start).get_next(float)
    assert triggers.poll(now=tick + 1) == 2
    assert triggers.poll(now=tick + 2) == 0
    # A controller that was down for an hour: skip lets the missed ticks go, once runs once.
    assert triggers.poll(now=tick + 3600 + 120) == 1
    assert [f.event_key for f in triggers.firings("skip")] == [f"tick:{tick:.0f}"]
    keys = [f.event_key for f in triggers.firings("once")]
    assert keys == [f"tick:{tick + 3600:.0f}", f"tick:{tick:.0f}"]
    assert triggers.firings("once")[0].event["time"].endswith("+00:00")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_code_trigger_fires_once_per_new_commit_on_its_branch(
    client: Client, tmp_path: Path, pipeline_file: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "a.txt").write_text("1")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    triggers = client.services.triggers
    triggers.add(
        TriggerSpec(
            "code", f"code:{repo}@main", f"{pipeline_file}:training", {"dataset": "{event.commit}"}
        )
    )
    assert triggers.poll() == 0  # the commit there when it was added does not fire
    (repo / "a.txt").write_text("2")
    _git(repo, "commit", "-q", "-am", "two")
    head = _git(repo, "rev-parse", "HEAD")
    assert triggers.poll() == 1
    assert triggers.poll() == 0
    job = triggers.work()
    assert job is not None and job.params == {"dataset": head}
    assert job.status == JobStatus.SUCCEEDED


def test_a_failing_pipeline_is_retried_then_recorded_failed_with_its_error(
    client: Client, pipeline_file: Path
) -> None:
    triggers = client.services.triggers
    triggers.add(
        TriggerSpec(
            "f",
            "manual",
            f"{pipeline_file}:training",
            {"dataset": "fail-me"},
            retries=1,
            backoff_s=0,
        )
    )
    triggers.fire("f")
    first = triggers.work()
    assert first is not None and first.status == JobStatus.QUEUED and first.attempts == 1
    second = triggers.work()
    assert second is not None and second.status == JobStatus.FAILED and second.attempts == 2
    assert "cannot train on fail-me" in (second.error or "")


def test_manual_key_fires_once_cancel_and_webhook_payload(
    client: Client, pipeline_file: Path
) -> None:
    triggers = client.services.triggers
    triggers.add(TriggerSpec("m", "manual", f"{pipeline_file}:training"))
    a = triggers.fire("m", key="k1")
    b = triggers.fire("m", key="k1")
    assert a.id == b.id and len(triggers.firings("m")) == 1
    assert a.job_id is not None
    assert triggers.cancel_job(a.job_id).status == JobStatus.CANCELLED
    assert triggers.work() is None
    with pytest.raises(Conflict):
        triggers.cancel_job(a.job_id)
    triggers.add(
        TriggerSpec("hook", "webhook", f"{pipeline_file}:training", {"dataset": "{event.ds}"})
    )
    fired = triggers.fire_webhook("hook", {"ds": "from-hook"})
    job = triggers.work()
    assert job is not None and job.id == fired.job_id and job.params == {"dataset": "from-hook"}
    with pytest.raises(InvalidInput):
        triggers.fire_webhook("m", {})
    triggers.set_enabled("m", False)
    with pytest.raises(Conflict, match="disabled"):
        triggers.fire("m")
    assert triggers.remove("m") == 1
    with pytest.raises(NotFound):
        triggers.get("m")


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
    push_versions(client, tmp_path, [("churn", 2), ("other", 2), ("churn", 3)])
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
    push_versions(client, tmp_path, [("churn", 2)])
    triggers = client.services.triggers
    triggers.add(TriggerSpec("t", "dataset:churn", f"{pipeline_file}:training"))
    assert triggers.poll() == 0
    triggers.set_enabled("t", False)
    push_versions(client, tmp_path, [("churn", 3)])
    assert triggers.poll() == 0
    triggers.set_enabled("t", False)
    push_versions(client, tmp_path, [("churn", 4)])
    triggers.set_enabled("t", True)  # before any controller saw 4: still not fired
    assert triggers.poll() == 0
    push_versions(client, tmp_path, [("churn", 5)])
    assert triggers.poll() == 1
    assert [f.event["version"] for f in triggers.firings("t")] == [5]


@pytest.mark.local_only(
    "steps an injected clock (poll(now=...)); a pass over a server runs on its clock"
)
def test_cooldown_allows_one_firing_per_interval(
    client: Client, tmp_path: Path, pipeline_file: Path
) -> None:
    make_datasets(client, tmp_path, ["churn"])
    triggers = client.services.triggers
    triggers.add(TriggerSpec("t", "dataset:churn", f"{pipeline_file}:training", cooldown_s=60))
    push_versions(client, tmp_path, [("churn", 2), ("churn", 3)])
    assert triggers.poll(now=1e9) == 1
    push_versions(client, tmp_path, [("churn", 4)])
    assert triggers.poll(now=1e9 + 30) == 0
    push_versions(client, tmp_path, [("churn", 5)])
    assert triggers.poll(now=1e9 + 61) == 1


@pytest.mark.local_only(
    "steps an injected clock (poll(now=...)); a pass over a server runs on its clock"
)
@pytest.mark.services("monitoring", "models")
def test_the_controller_runs_a_monitor_added_with_every_once_per_period(client: Client) -> None:
    from tests.monitoring.conftest import train

    train(client)
    client.monitoring.add("churn@production", every=3600)
    triggers = client.services.triggers
    start = 3600.0 * 500_000
    triggers.poll(now=start)
    triggers.poll(now=start + 10)  # the same period: not again
    assert len(client.monitoring.results("churn@production")) == 1
    triggers.poll(now=start + 3600)
    assert len(client.monitoring.results("churn@production")) == 2
