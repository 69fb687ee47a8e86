"""``loopml pipeline …`` as a user runs it: exit codes, messages, DAG rendering, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.pipelines import files
from tests.plugins.db import SQLITE_ONLY

PIPELINE = """
import os
from loopml.pipelines import pipeline, step


@step
def load(n: int):
    print("loading", n)
    return list(range(n))


@step
def total(xs):
    if os.path.exists(os.environ["TEST_FAIL_FLAG"]):
        raise RuntimeError("flag file says fail")
    return sum(xs)


@step
def count(xs):
    return len(xs)


@pipeline
def demo(n: int = 5, scale: float = 1.0):
    xs = load(n)
    total(xs)
    count(xs)


@pipeline
def looped():
    xs = load.after("count")(3)
    count(xs)


def not_a_pipeline():
    pass
"""


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Path:
    env["TEST_FAIL_FLAG"] = str(tmp_path / "fail-flag")
    return files.write(tmp_path / "project", "flow.py", PIPELINE)


def test_run_prints_the_dag_and_a_second_run_is_fully_cached(
    env: dict[str, str], project: Path
) -> None:
    first = run_cli(env, "pipeline", "run", f"{project}:demo", "-p", "n=4")
    assert first.returncode == 0, first.stderr
    assert "pipeline demo" in first.stdout and "succeeded" in first.stdout
    assert "total" in first.stdout and "← load" in first.stdout
    second = run_cli(env, "pipeline", "run", f"{project}:demo", "-p", "n=4", "--json")
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert {s["status"] for s in data["steps"]} == {"cached"}
    listed = json.loads(run_cli(env, "pipeline", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [data["id"], data["steps"][0]["cached_from"]]
    shown = run_cli(env, "pipeline", "show", data["id"][:8], "--logs")
    assert shown.returncode == 0 and "from run" in shown.stdout


@pytest.mark.parametrize(
    ("target", "params", "message"),
    [
        ("missing.py:demo", [], "does not exist"),
        ("{file}:nope", [], "has no function 'nope'; pipelines in it: demo, looped"),
        ("{file}:not_a_pipeline", [], "is not a pipeline: decorate it with @pipeline"),
        ("{file}:looped", [], "cycle: "),
        ("{file}:demo", ["-p", "m=3"], "has no parameter 'm'; its parameters are: n: int"),
        ("{file}:demo", ["-p", "n=three"], "parameter 'n' expects int, got 'three'"),
        ("{file}:demo", ["-p", "n"], "is not NAME=VALUE"),
        ("{file}", [], "is not FILE.py:FUNCTION"),
    ],
)
def test_bad_input_exits_1_with_a_clear_message_and_starts_no_run(
    env: dict[str, str], project: Path, target: str, params: list[str], message: str
) -> None:
    r = run_cli(env, "pipeline", "run", target.format(file=project), *params)
    assert r.returncode == 1, r.stdout
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(run_cli(env, "pipeline", "list", "--json").stdout) == []


def test_a_file_that_does_not_import_is_reported(env: dict[str, str], tmp_path: Path) -> None:
    broken = files.write(tmp_path, "broken.py", "import no_such_module_here\n")
    r = run_cli(env, "pipeline", "run", f"{broken}:demo")
    assert r.returncode == 1
    assert "does not import: ModuleNotFoundError: No module named 'no_such_module_here'" in r.stderr


def test_a_failing_step_exits_1_and_resume_reruns_from_the_failure(
    env: dict[str, str], project: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "fail-flag"
    flag.write_text("1")
    failed = run_cli(env, "pipeline", "run", f"{project}:demo", "--json")
    assert failed.returncode == 1
    data = json.loads(failed.stdout)
    steps = {s["name"]: s for s in data["steps"]}
    assert steps["total"]["status"] == "failed"
    assert "RuntimeError: flag file says fail" in steps["total"]["error"]
    assert steps["count"]["status"] == "succeeded"
    shown = run_cli(env, "pipeline", "show", data["id"])
    assert "RuntimeError: flag file says fail" in shown.stdout
    assert "✗ total" in shown.stdout

    flag.unlink()
    resumed = run_cli(env, "pipeline", "resume", data["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    again = {s["name"]: s["status"] for s in json.loads(resumed.stdout)["steps"]}
    assert again == {"load": "cached", "total": "succeeded", "count": "cached"}
    twice = run_cli(env, "pipeline", "resume", json.loads(resumed.stdout)["id"])
    assert twice.returncode == 1 and "nothing to resume" in twice.stderr


def test_show_of_an_unknown_run_exits_1(env: dict[str, str]) -> None:
    r = run_cli(env, "pipeline", "show", "abcdef12")
    assert r.returncode == 1 and "no pipeline run 'abcdef12'" in r.stderr


PRELOAD_PROBE = """
import sys
from loopml.pipelines import pipeline, step


@step
def probe(tag: str):
    print("preloaded:", [m for m in ("xml.dom.minidom", "pandas") if m in sys.modules])


@pipeline
def probing(tag: str = "a"):
    probe(tag)
"""


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("preload", "expected"),
    [
        (None, "preloaded: ['pandas']"),
        (" xml.dom.minidom , pandas,", "preloaded: ['xml.dom.minidom', 'pandas']"),
        ("", "preloaded: []"),
    ],
)
def test_workers_start_with_the_modules_of_loopml_worker_preload(
    env: dict[str, str], tmp_path: Path, preload: str | None, expected: str
) -> None:
    flow = files.write(tmp_path / "project", "probe.py", PRELOAD_PROBE)
    if preload is not None:
        env["LOOPML_WORKER_PRELOAD"] = preload
    r = run_cli(env, "pipeline", "run", f"{flow}:probing", "--json")
    assert r.returncode == 0, r.stderr
    shown = run_cli(env, "pipeline", "show", json.loads(r.stdout)["id"], "--logs")
    assert expected in shown.stdout, shown.stdout


@SQLITE_ONLY
def test_a_preloaded_module_that_fails_or_is_the_projects_own_is_skipped_with_a_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    flow = files.write(project, "probe.py", PRELOAD_PROBE)
    files.write(project, "boom_mod.py", "raise RuntimeError('boom at import')\n")
    files.write(project, "exits_mod.py", "import sys\nsys.exit(0)\n")
    files.write(project, "xml_helper.py", "import xml.dom.minidom\n")
    env["PYTHONPATH"] = str(project)
    env["LOOPML_WORKER_PRELOAD"] = "boom_mod,exits_mod,no_such_mod_here,xml_helper,pandas"
    r = run_cli(env, "pipeline", "run", f"{flow}:probing", "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for line in [
        "boom_mod failed to import (RuntimeError: boom at import)",
        "exits_mod failed to import (SystemExit: 0)",
        "no_such_mod_here cannot be imported (No module named 'no_such_mod_here')",
        "xml_helper is a module of the project, not an installed library",
    ]:
        assert f"loopml: LOOPML_WORKER_PRELOAD: {line}" in r.stderr, r.stderr
    shown = run_cli(env, "pipeline", "show", json.loads(r.stdout)["id"], "--logs")
    # the project's module went, what it imported from the standard library stays
    assert "preloaded: ['xml.dom.minidom', 'pandas']" in shown.stdout, shown.stdout


@SQLITE_ONLY
def test_a_preload_that_names_no_module_exits_1_and_starts_no_run(
    env: dict[str, str], tmp_path: Path
) -> None:
    flow = files.write(tmp_path / "project", "probe.py", PRELOAD_PROBE)
    for preload, named in [
        ("pandas, not a module", "'not a module'"),
        ("numpy;pandas", "'numpy;pandas'"),
        ("1abc", "'1abc'"),
        ("a..b", "'a..b'"),
    ]:
        env["LOOPML_WORKER_PRELOAD"] = preload
        r = run_cli(env, "pipeline", "run", f"{flow}:probing")
        assert r.returncode == 1, r.stdout
        assert f"LOOPML_WORKER_PRELOAD lists {named}, which is not a module name" in r.stderr
        assert "Traceback" not in r.stderr
    assert json.loads(run_cli(env, "pipeline", "list", "--json").stdout) == []
