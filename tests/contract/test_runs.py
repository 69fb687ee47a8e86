"""Runs through the client's tracker, the runs service and the ``loopml`` functions."""

from __future__ import annotations

import math
import platform
import subprocess
from pathlib import Path

import pytest

from loopml import Client, Conflict, InvalidInput, InvalidName, NotFound
from loopml import active_run as current_run
from loopml.api.runs import RunStatus

pytestmark = pytest.mark.services("runs", "search", "maintenance")


def test_run_records_params_metrics_tags_and_its_lifecycle(client: Client) -> None:
    with client.tracking.start_run(experiment="churn", name="lr baseline") as run:
        run.log_params({"model": "lr", "C": 0.5})
        run.log_param("model", "lr")  # the same value again is fine
        for i in range(10):
            run.log_metric("loss", 1.0 / (i + 1))
        run.log_metrics({"accuracy": 0.91, "f1": 0.88}, step=3)
        run.set_tag("team", "growth")
        run.set_tag("team", "retention")  # tags may change
        assert current_run() is run
    assert current_run() is None
    got = client.tracking.get_run(run.id)
    assert got.status is RunStatus.FINISHED
    assert (got.experiment, got.name) == ("churn", "lr baseline")
    assert got.params == {"C": "0.5", "model": "lr"}
    assert got.tags == {"team": "retention"}
    assert got.metrics == {"accuracy": 0.91, "f1": 0.88, "loss": 0.1}
    loss = got.metric_summaries["loss"]
    assert (loss.step, loss.min, loss.max, loss.count) == (9, 0.1, 1.0, 10)
    assert got.end_time is not None and got.elapsed is not None and got.elapsed >= 0
    assert got.error is None
    history = client.tracking.metric_history(run.id, "loss")
    assert [p.step for p in history] == list(range(10))
    assert [p.value for p in history] == [1.0 / (i + 1) for i in range(10)]
    assert got.to_dict()["status"] == "finished"


def test_latest_metric_is_the_highest_step_not_the_last_logged(client: Client) -> None:
    with client.tracking.start_run(experiment="e") as run:
        run.log_metric("acc", 0.9, step=5)
        run.flush()
        run.log_metric("acc", 0.5, step=2)  # a late point for an earlier step
        run.log_metric("acc", 0.95, step=5, timestamp=4_000_000_000.0)
    s = client.tracking.get_run(run.id).metric_summaries["acc"]
    assert (s.value, s.step, s.min, s.max, s.count) == (0.95, 5, 0.5, 0.95, 3)


def test_exception_marks_the_run_failed_with_its_traceback(client: Client) -> None:
    with pytest.raises(ZeroDivisionError), client.tracking.start_run(experiment="e") as run:
        run.log_metric("before", 1.0)
        _ = 1 / 0
    got = client.tracking.get_run(run.id)
    assert got.status is RunStatus.FAILED
    assert got.error is not None and "ZeroDivisionError" in got.error
    assert "Traceback" in got.error
    assert got.metrics == {"before": 1.0}  # flushed by the failure too


def test_keyboard_interrupt_marks_the_run_killed(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), client.tracking.start_run(experiment="e") as run:
        raise KeyboardInterrupt
    assert client.tracking.get_run(run.id).status is RunStatus.KILLED


def test_a_run_ends_once(client: Client) -> None:
    run = client.tracking.start_run(experiment="e")
    run.end()
    run.end("failed")  # the handle ignores a second end
    with pytest.raises(Conflict, match="already ended as finished"):
        client.tracking.end_run(run.id, "killed")
    with pytest.raises(InvalidInput, match="unknown run status"):
        client.tracking.end_run(run.id, "paused")
    assert client.tracking.get_run(run.id).status is RunStatus.FINISHED


def test_a_stale_running_run_can_be_marked_killed(client: Client) -> None:
    run = client.tracking.start_run(experiment="e")
    run.flush()  # a run is in the database from its first flush
    other = Client(client.settings)  # e.g. another process cleaning up
    other.tracking.end_run(run.id, RunStatus.KILLED)
    assert client.tracking.get_run(run.id).status is RunStatus.KILLED
    other.close()


def test_nested_runs_record_their_parent(client: Client) -> None:
    with client.tracking.start_run(experiment="e", name="outer") as outer:
        with client.tracking.start_run(experiment="e", name="inner") as inner:
            assert current_run() is inner
        assert current_run() is outer
    assert client.tracking.get_run(inner.id).parent_run_id == outer.id
    assert client.tracking.get_run(outer.id).parent_run_id is None


@pytest.mark.services("events")
def test_run_start_and_end_append_events(client: Client) -> None:
    with client.tracking.start_run(experiment="e") as ok:
        pass
    with pytest.raises(RuntimeError), client.tracking.start_run(experiment="e") as bad:
        raise RuntimeError("x")
    rows = [(e.kind.value, e.subject) for e in client.services.events.read_after(0)]
    assert rows == [
        ("run.started", ok.id),
        ("run.finished", ok.id),
        ("run.started", bad.id),
        ("run.failed", bad.id),
    ]


def test_unknown_run_is_not_found_everywhere(client: Client) -> None:
    missing = "0123456789abcdef0123456789abcdef"
    t = client.tracking
    for call in (
        lambda: t.get_run(missing),
        lambda: t.get_run("not-a-run-id"),
        lambda: t.log_metric(missing, "loss", 1.0),
        lambda: t.log_params(missing, {"a": 1}),
        lambda: t.set_tags(missing, {"a": 1}),
        lambda: t.end_run(missing),
        lambda: t.metric_history(missing, "loss"),
    ):
        with pytest.raises(NotFound, match="loopml runs list"):
            call()
    assert t.writer.pending() == 0


def test_run_prefix_resolves_when_unique(client: Client) -> None:
    with client.tracking.start_run(experiment="e") as run:
        pass
    assert client.tracking.get_run(run.id[:8]).id == run.id


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (math.nan, "not a finite number"),
        (math.inf, "not a finite number"),
        ("0.9", "must be a number"),
        (None, "must be a number"),
        ([1.0], "must be a number"),
    ],
)
def test_bad_metric_value_is_refused_and_nothing_is_buffered(
    client: Client, value: object, says: str
) -> None:
    with client.tracking.start_run(experiment="e") as run:
        with pytest.raises(InvalidInput, match=says):
            run.log_metric("loss", value)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match=says):
            run.log_metrics({"good": 1.0, "loss": value})  # type: ignore[dict-item]
        assert client.tracking.writer.pending() == 0
    got = client.tracking.get_run(run.id)
    assert (got.metrics, got.metric_summaries) == ({}, {})


def test_numeric_lookalikes_are_accepted_as_metrics(client: Client) -> None:
    import numpy as np

    with client.tracking.start_run(experiment="e") as run:
        run.log_metric("i", 3)
        run.log_metric("np", np.float32(0.5), step=np.int64(2))
        run.log_metric("b", True)
    assert client.tracking.get_run(run.id).metrics == {"b": 1.0, "i": 3.0, "np": 0.5}


@pytest.mark.parametrize("key", ["", " lead", "a\nb", "x" * 251, "-dash", 7])
def test_bad_keys_are_refused(client: Client, key: object) -> None:
    with client.tracking.start_run(experiment="e") as run:
        with pytest.raises(InvalidInput, match="invalid metric key"):
            run.log_metric(key, 1.0)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="invalid param key"):
            run.log_params({key: 1})  # type: ignore[dict-item]


def test_bad_step_is_refused(client: Client) -> None:
    with (
        client.tracking.start_run(experiment="e") as run,
        pytest.raises(InvalidInput, match="whole number"),
    ):
        run.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]


def test_param_relogged_with_another_value_is_a_conflict_and_nothing_is_written(
    client: Client,
) -> None:
    with client.tracking.start_run(experiment="e") as run:
        run.log_params({"lr": 0.1})
        with pytest.raises(Conflict, match=r"already '0.1', cannot change it to '0.2'"):
            run.log_params({"depth": 3, "lr": 0.2})
    assert client.tracking.get_run(run.id).params == {"lr": "0.1"}  # no 'depth'


def test_invalid_start_writes_nothing(client: Client) -> None:
    with pytest.raises(InvalidName):
        client.tracking.start_run(experiment="bad name!")
    with pytest.raises(InvalidInput):
        client.tracking.start_run(experiment="e", params={"ok": 1, "bad\n": 2})
    with pytest.raises(NotFound):
        client.tracking.start_run(experiment="e", parent_run_id="ab" * 16)
    assert current_run() is None
    assert client.tracking.list_experiments() == []  # and so no run, no param either


def test_experiments_are_created_by_the_first_run_or_explicitly(client: Client) -> None:
    t = client.tracking
    with pytest.raises(NotFound, match="created by its first run"):
        t.get_experiment("churn")
    t.start_run(experiment="churn").end()
    assert t.get_experiment("churn").name == "churn"
    assert t.create_experiment("fraud").name == "fraud"
    with pytest.raises(Conflict):
        t.create_experiment("fraud")
    assert [e.name for e in t.list_experiments()] == ["churn", "fraud"]


def test_environment_and_code_version_are_recorded(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    (repo / "train.py").write_text("print(1)\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "first")
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(repo)
    with client.tracking.start_run(experiment="e") as run:
        pass
    got = client.tracking.get_run(run.id)
    assert got.code["branch"] == "main"
    assert len(got.code["commit"]) == 40
    assert got.code["dirty"] is True
    assert len(got.code["diff_digest"]) == 64
    assert got.environment["python"] == platform.python_version()
    assert "sqlalchemy" in got.environment["packages"]


def test_outside_a_git_work_tree_code_is_empty(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with client.tracking.start_run(experiment="e") as run:
        pass
    assert client.tracking.get_run(run.id).code == {}


@pytest.mark.services("datasets")
def test_inputs_record_dataset_versions_as_lineage(client: Client, tmp_path: Path) -> None:
    data = tmp_path / "churn.csv"
    data.write_text("a,b\n1,2\n")
    client.datasets.push("churn", data)
    data.write_text("a,b\n1,2\n3,4\n")
    client.datasets.push("churn", data)
    with client.tracking.start_run(experiment="e") as run:
        assert run.log_input("churn") == "churn@2"  # latest, pinned now
        assert run.log_input("churn@1") == "churn@1"
        run.log_input("churn/1")  # recorded once
        with pytest.raises(NotFound, match="has no version 9"):
            run.log_input("churn@9")
        with pytest.raises(NotFound, match="does not exist"):
            run.log_input("nope")
        with pytest.raises(NotFound, match="no aliases"):
            run.log_input("churn@production")
    assert client.tracking.get_run(run.id).inputs == ("churn@1", "churn@2")


@pytest.mark.blobs
@pytest.mark.services("datasets")
def test_artifacts_are_stored_in_the_blob_store(client: Client, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.9\n")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(b"\x89PNG a")
    (folder / "sub" / "b.png").write_bytes(b"\x89PNG b")
    with client.tracking.start_run(experiment="e") as run:
        run.log_artifact(report)
        run.log_artifact(folder, artifact_path="plots")
        with pytest.raises(InvalidInput, match="not a file or a folder"):
            run.log_artifact(tmp_path / "missing.bin")
        report.write_text("accuracy 0.95\n")
        run.log_artifact(report)  # the same path again replaces it
    got = client.tracking.get_run(run.id)
    paths = {a.path: a for a in got.artifacts}
    assert sorted(paths) == ["plots/a.png", "plots/sub/b.png", "report.txt"]
    wanted = [paths["report.txt"].digest, paths["plots/sub/b.png"].digest]
    stored = dict(client.services.datasets.get_chunks(wanted))  # blobs by digest, verified
    assert stored == {wanted[0]: b"accuracy 0.95\n", wanted[1]: b"\x89PNG b"}


@pytest.mark.usefixtures("sdk_env")
def test_module_level_functions_log_to_the_active_run(client: Client) -> None:
    import loopml

    with pytest.raises(InvalidInput, match="no active run"):
        loopml.log_metric("loss", 1.0)
    with loopml.start_run(experiment="churn", name="sdk") as run:
        assert loopml.active_run() is run
        loopml.log_param("model", "lr")
        loopml.log_params({"C": 1})
        loopml.log_metric("loss", 0.5)
        loopml.log_metrics({"acc": 0.9})
        loopml.set_tag("t", "x")
        loopml.set_tags({"u": "y"})
        loopml.flush()
        assert client.tracking.get_run(run.id).metrics == {"acc": 0.9, "loss": 0.5}
    assert loopml.active_run() is None
    got = loopml.get_run(run.id)
    assert got.status is RunStatus.FINISHED
    assert got.params == {"C": "1", "model": "lr"}
    assert got.tags == {"t": "x", "u": "y"}
    assert [r.id for r in loopml.search_runs("churn", "params.model = 'lr'")] == [run.id]
    assert [p.value for p in loopml.metric_history(run.id, "loss")] == [0.5]
    second = loopml.start_run(experiment="churn")
    loopml.end_run("killed")
    assert loopml.get_run(second.id).status is RunStatus.KILLED
