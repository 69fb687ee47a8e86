"""Running pipelines end to end on the local executor, over SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from loopml.meta.tables import file_objects
from loopml.pipelines import StepStatus
from loopml.sdk import Client
from tests.pipelines import files


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.delenv("TEST_FAIL_AT", raising=False)
    return f"{files.basic(tmp_path / 'project')}:training"


def statuses(run: object) -> dict[str, str]:
    return {s.name: s.status.value for s in run.steps}  # type: ignore[attr-defined]


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


def test_a_cache_entry_whose_files_are_gone_is_a_miss(client: Client, source: str) -> None:
    first = client.pipelines.run(source)
    gone = {f.digest for o in first.step("evaluate").outputs for f in o.files}
    with client.stores.meta.write() as conn:
        conn.execute(file_objects.delete().where(file_objects.c.digest.in_(sorted(gone))))
    again = client.pipelines.run(source)
    assert statuses(again)["evaluate"] == "succeeded"
    assert statuses(again)["train"] == "cached"


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
    with client.stores.meta.read() as conn:
        from loopml.meta.tables import pipeline_outputs

        rows = conn.execute(
            sa.select(pipeline_outputs).where(pipeline_outputs.c.step == "train")
        ).all()
    assert rows == []


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
    from loopml.blobs.gc import gc

    first = client.pipelines.run(source)
    report = gc(client.stores.blobs, grace_s=0)
    assert report.files_removed == 0
    again = client.pipelines.run(source)
    assert {s.status.value for s in again.steps} == {"cached"}
    assert client.pipelines.load_output(again.id, "evaluate") == client.pipelines.load_output(
        first.id, "evaluate"
    )


@pytest.mark.parametrize(
    "value", [{"accuracy": 0.9}, [1, 2, 3], "text", np.arange(5), pd.DataFrame({"a": [1, 2]})]
)
def test_small_inputs_handed_over_by_the_coordinator_are_checked_against_their_digest(
    client: Client, value: object
) -> None:
    import blake3

    from loopml.api.pipelines import Output, OutputFile
    from loopml.pipelines import materializers as mats
    from loopml.pipelines.worker import load_output

    m = mats.for_value(value, lambda: "test value")
    saved = {rel: data for rel, data in m.save(value).items() if isinstance(data, bytes)}
    assert saved, "the materializer saves bytes"
    stores = client.stores

    def output(digests: dict[str, str]) -> Output:
        files = tuple(OutputFile(rel, d, len(saved[rel])) for rel, d in sorted(digests.items()))
        return Output("output", m.name, mats.type_name(value), "x" * 64, files)

    def same(a: object) -> bool:
        if isinstance(value, pd.DataFrame):
            return value.equals(a)
        return bool(np.array_equal(value, a)) if isinstance(value, np.ndarray) else a == value

    scratch = lambda: Path(client.settings.home)  # noqa: E731
    # Bytes the store never had: read only from what was handed over, after the check.
    digests = {rel: blake3.blake3(data).hexdigest() for rel, data in saved.items()}
    known = {digests[rel]: data for rel, data in saved.items()}
    assert same(load_output(stores, output(digests), scratch, known))
    # Handed-over bytes that do not match their digest are not used: the store is asked.
    with stores.blobs.ingest() as ingest:
        stored = {rel: ingest.add_bytes(data).digest for rel, data in saved.items()}
        ingest.finish()
        with stores.meta.write() as conn:
            ingest.commit(conn)
    forged = {stored[rel]: b"not the value" for rel in saved}
    assert same(load_output(stores, output(stored), scratch, forged))


KEPT = """
import os
import helper_kept
from loopml.pipelines import pipeline, step

@step
def probe():
    return [os.getpid(), helper_kept.VALUE, os.environ.get("KEPT_PROBE")]

@pipeline
def kept():
    probe()
"""


def test_workers_kept_between_runs_see_edited_helpers_and_the_current_environment(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    path = files.write(tmp_path, "kept.py", KEPT)
    helper = tmp_path / "helper_kept.py"
    helper.write_text("VALUE = 1\n")
    monkeypatch.setenv("KEPT_PROBE", "a")

    def probe() -> list[object]:
        run = client.pipelines.run(f"{path}:kept", workers=1, no_cache=True)
        assert run.status.value == "succeeded", run.error
        out: list[object] = client.pipelines.load_output(run.id, "probe")
        return out

    pid, value, env = probe()
    assert (value, env) == (1, "a")
    again = probe()
    assert again == [pid, 1, "a"]  # the same worker process served the second run
    helper.write_text("VALUE = 2  # edited\n")
    os.utime(helper, ns=(0, 10**18))  # a new mtime even on a coarse clock
    assert probe() == [pid, 2, "a"]
    monkeypatch.setenv("KEPT_PROBE", "b")
    newer = probe()
    assert newer[1:] == [2, "b"] and newer[0] != pid  # another environment: a new worker
    client.pipelines.close()  # type: ignore[attr-defined]
    with pytest.raises(ProcessLookupError):
        for _ in range(500):  # the kept worker ends with the service
            os.kill(int(newer[0]), 0)  # type: ignore[call-overload]
            import time

            time.sleep(0.01)
