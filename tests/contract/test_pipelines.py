"""Running pipelines end to end on the local executor, over SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml import Client, InvalidInput
from loopml.api.pipelines import StepStatus
from tests.pipelines import files

pytestmark = pytest.mark.services("pipelines", "runs", "search", "maintenance")


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.delenv("TEST_FAIL_AT", raising=False)
    return f"{files.basic(tmp_path / 'project')}:training"


def statuses(run: object) -> dict[str, str]:
    return {s.name: s.status.value for s in run.steps}  # type: ignore[attr-defined]


@pytest.mark.blobs
def test_a_run_stores_every_output_with_the_materializer_of_its_type(
    client: Client, source: str
) -> None:
    run = client.pipelines.run(source, {"C": "0.5"}, workers=2)
    assert run.status.value == "succeeded", run.error
    assert set(statuses(run).values()) == {"succeeded"}
    kinds = {(s.name, o.name): o.materializer for s in run.steps for o in s.outputs}
    assert kinds == {
        ("prepare", "output"): "parquet",
        ("split", "features"): "numpy",
        ("split", "labels"): "numpy",
        ("train", "output"): "sklearn",
        ("evaluate", "output"): "json",
        ("summary", "output"): "path",
    }
    df = client.pipelines.load_output(run.id, "prepare")
    assert isinstance(df, pd.DataFrame) and len(df) == 40
    assert isinstance(client.pipelines.load_output(run.id, "split", "features"), np.ndarray)
    assert client.pipelines.load_output(run.id, "train").C == 0.5
    assert 0.0 <= client.pipelines.load_output(run.id, "evaluate")["accuracy"] <= 1.0
    folder = client.pipelines.load_output(run.id, "summary")
    assert (folder / "rows.txt").read_text() == "40"
    assert (folder / "sub" / "cols.txt").read_text() == "x,y"
    assert run.step("prepare").stdout == "preparing 40 rows\n"


def test_the_run_is_a_tracked_run_with_params_metrics_and_elapsed_time(
    client: Client, source: str
) -> None:
    run = client.pipelines.run(source, {"C": 2})
    tracked = client.tracking.get_run(run.id)
    assert tracked.status.value == "finished"
    assert tracked.params == {"C": "2.0", "rows": "40"}
    assert "accuracy" in tracked.metrics
    assert tracked.elapsed is not None and tracked.elapsed > 0
    assert tracked.tags["loopml.pipeline"] == "training"
    assert run.step("evaluate").metrics == {"accuracy": tracked.metrics["accuracy"]}


def test_a_second_run_is_fully_cached_and_says_from_which_run(client: Client, source: str) -> None:
    first = client.pipelines.run(source)
    second = client.pipelines.run(source)
    assert set(statuses(second).values()) == {"cached"}
    assert {s.cached_from for s in second.steps} == {first.id}
    assert client.pipelines.load_output(second.id, "evaluate") == client.pipelines.load_output(
        first.id, "evaluate"
    )
    # metrics of cached steps still land on the new tracked run
    assert "accuracy" in client.tracking.get_run(second.id).metrics


def test_a_changed_parameter_reruns_only_the_steps_it_reaches(client: Client, source: str) -> None:
    client.pipelines.run(source, {"C": 1.0})
    again = client.pipelines.run(source, {"C": 0.1})
    assert statuses(again) == {
        "prepare": "cached",
        "split": "cached",
        "train": "succeeded",
        "evaluate": "succeeded",
        "summary": "cached",
    }


def test_editing_a_helper_module_invalidates_the_steps_that_call_it(
    client: Client, source: str, tmp_path: Path
) -> None:
    client.pipelines.run(source)
    helper = tmp_path / "project" / "helper.py"
    helper.write_text(helper.read_text().replace("float(", "1.0 * float("))
    again = client.pipelines.run(source)
    assert statuses(again)["evaluate"] == "succeeded"
    assert statuses(again)["train"] == "cached"


def test_no_cache_runs_every_step(client: Client, source: str) -> None:
    client.pipelines.run(source)
    again = client.pipelines.run(source, no_cache=True)
    assert set(statuses(again).values()) == {"succeeded"}


def test_a_failed_step_fails_the_run_skips_its_dependents_and_spares_the_rest(
    client: Client, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_FAIL_AT", "train")
    run = client.pipelines.run(source, workers=2)
    assert run.status.value == "failed"
    assert statuses(run) == {
        "prepare": "succeeded",
        "split": "succeeded",
        "train": "failed",
        "evaluate": "skipped",
        "summary": "succeeded",
    }
    train = run.step("train")
    assert "ValueError: training diverged" in (train.error or "")
    assert "Traceback" in (train.error or "") and "train_pipeline.py" in (train.error or "")
    assert train.outputs == ()
    assert "step 'train' failed" in (run.step("evaluate").error or "")
    assert "step 'train' failed: ValueError: training diverged" in (run.error or "")
    assert client.tracking.get_run(run.id).status.value == "failed"
    # nothing was cached for the failed step: a rerun runs it again
    assert run.step("train").outputs == ()
    monkeypatch.delenv("TEST_FAIL_AT")
    again = client.pipelines.run(source)
    assert statuses(again)["train"] == "succeeded" and statuses(again)["split"] == "cached"


def test_resume_reuses_what_succeeded_and_reruns_from_the_failure(
    client: Client, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_FAIL_AT", "train")
    failed = client.pipelines.run(source, no_cache=True)
    monkeypatch.setenv("TEST_FAIL_AT", "")
    resumed = client.pipelines.resume(failed.id[:10])
    assert resumed.status.value == "succeeded"
    assert resumed.resumed_from == failed.id
    assert statuses(resumed) == {
        "prepare": "cached",
        "split": "cached",
        "train": "succeeded",
        "evaluate": "succeeded",
        "summary": "cached",
    }
    assert resumed.step("prepare").cached_from == failed.id


def test_independent_steps_run_in_parallel_workers(client: Client, tmp_path: Path) -> None:
    path = files.write(
        tmp_path,
        "parallel.py",
        """
        import os, time
        from loopml.pipelines import pipeline, step

        @step
        def nap(i: int):
            time.sleep(0.6)
            return os.getpid()

        @pipeline
        def fan():
            for i in range(4):
                nap(i)
        """,
    )
    run = client.pipelines.run(f"{path}:fan", workers=2, no_cache=True)
    assert run.status.value == "succeeded"
    pids = {client.pipelines.load_output(run.id, s.name) for s in run.steps}
    assert len(pids) == 2
    spans = sorted((s.start_time or 0, s.end_time or 0) for s in run.steps)
    assert spans[1][0] < spans[0][1]  # two naps overlapped
    assert max(e for _, e in spans) - min(s for s, _ in spans) < 4 * 0.6


def test_steps_with_cache_disabled_always_run(client: Client, tmp_path: Path) -> None:
    path = files.write(
        tmp_path,
        "volatile.py",
        """
        import time
        from loopml.pipelines import pipeline, step

        @step(cache=False)
        def now():
            return time.time()

        @step
        def same():
            return 1

        @pipeline
        def clock():
            now()
            same()
        """,
    )
    client.pipelines.run(f"{path}:clock")
    again = client.pipelines.run(f"{path}:clock")
    assert statuses(again) == {"now": "succeeded", "same": "cached"}
    assert again.step("now").status is StepStatus.SUCCEEDED


def test_gc_keeps_step_outputs_alive(client: Client, source: str) -> None:
    first = client.pipelines.run(source)
    report = client.maintenance.gc(grace_s=0)
    assert report.files_removed == 0
    again = client.pipelines.run(source)
    assert {s.status.value for s in again.steps} == {"cached"}
    assert client.pipelines.load_output(again.id, "evaluate") == client.pipelines.load_output(
        first.id, "evaluate"
    )


def test_an_unknown_pipeline_object_is_refused(client: Client) -> None:
    with pytest.raises(InvalidInput, match="takes a @pipeline"):
        client.pipelines.run(42)  # type: ignore[arg-type]
