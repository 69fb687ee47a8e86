"""Faults during a run: each is reported on the run, and nothing is cached for a step that did
not finish."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.sdk import Client
from tests.pipelines import files

FAULTS = """
import os, signal, sys
from loopml.pipelines import pipeline, register_materializer, step


class Point:
    def __init__(self, x):
        self.x = x


class PointMaterializer:
    name = "test-point"

    def save(self, obj):
        return {"x.txt": str(obj.x).encode()}

    def load(self, files):
        return Point(int(files.read_bytes("x.txt")))


register_materializer(Point, PointMaterializer)


@step
def ok():
    return 1


@step
def dies(x):
    print("about to die", flush=True)
    if os.environ.get("TEST_DIE", "1") == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    return x


@step
def after_death(x):
    return x


@step
def unstorable(x):
    print("returning a set")
    print("warning on stderr", file=sys.stderr)
    return {x, 2}


@step
def point(x):
    return Point(x + 41)


@step
def read_point(p):
    return p.x


@pipeline
def faults():
    x = ok()
    after_death(dies(x))
    unstorable(x)
    read_point(point(x))
"""


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_DIE", "1")
    return f"{files.write(tmp_path, 'faults.py', FAULTS)}:faults"


def test_a_killed_worker_fails_its_step_and_the_run_goes_on(
    client: Client, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = client.pipelines.run(source, workers=2)
    assert run.status.value == "failed"
    got = {s.name: s.status.value for s in run.steps}
    assert got == {
        "ok": "succeeded",
        "dies": "failed",
        "after_death": "skipped",
        "unstorable": "failed",
        "point": "succeeded",
        "read_point": "succeeded",
    }
    assert "worker died (signal 9)" in (run.step("dies").error or "")
    assert run.step("dies").outputs == ()
    # a user-registered materializer round-trips through worker processes
    assert client.pipelines.load_output(run.id, "read_point") == 42
    assert client.pipelines.load_output(run.id, "point").x == 42
    # the worker that died was replaced; the dead step is not cached
    monkeypatch.setenv("TEST_DIE", "0")
    again = client.pipelines.run(source, workers=2)
    assert again.step("dies").status.value == "succeeded"
    assert again.step("ok").status.value == "cached"


def test_an_output_without_materializer_fails_the_step_with_how_to_fix_it(
    client: Client, source: str
) -> None:
    run = client.pipelines.run(source)
    step = run.step("unstorable")
    assert step.status.value == "failed"
    assert "returned a builtins.set, which no materializer stores" in (step.error or "")
    assert "register_materializer" in (step.error or "")
    assert step.stdout == "returning a set\n"
    assert step.stderr == "warning on stderr\n"
    assert step.outputs == ()
