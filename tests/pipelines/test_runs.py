"""Pipeline runs below the service: the cache against a damaged table, the coordinator's
digest check of small inputs, and the step workers kept between runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.meta.tables import file_objects
from loopml.sdk import Client
from tests.contract.test_pipelines import source, statuses
from tests.pipelines import files

__all__ = ["source"]  # the fixture, shared with the contract suite


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


def test_a_cache_entry_whose_files_are_gone_is_a_miss(client: Client, source: str) -> None:
    first = client.pipelines.run(source)
    gone = {f.digest for o in first.step("evaluate").outputs for f in o.files}
    with client.stores.meta.write() as conn:
        conn.execute(file_objects.delete().where(file_objects.c.digest.in_(sorted(gone))))
    again = client.pipelines.run(source)
    assert statuses(again)["evaluate"] == "succeeded"
    assert statuses(again)["train"] == "cached"


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
