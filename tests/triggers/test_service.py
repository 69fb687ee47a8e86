"""The triggers service below its interface: the per-trigger concurrency limit, with a job
claimed through the worker's own function (the rest is in tests/contract/test_triggers.py)."""

from __future__ import annotations

from pathlib import Path

from loopml.api.triggers import TriggerSpec
from loopml.sdk import Client


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
