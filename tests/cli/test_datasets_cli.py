"""The ``loopml datasets`` commands as a user runs them: exit codes, messages, --json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "t.csv").write_text("id,score,city\n1,0.5,Oslo\n2,0.7,Lima\n3,,Oslo\n")
    (d / "blob.bin").write_bytes(os.urandom(100_000))
    return d


def test_push_show_list_diff_pull_round_trip(
    env: dict[str, str], data: Path, tmp_path: Path
) -> None:
    r = run_cli(
        env, "datasets", "push", "cities", str(data), "-m", "v1", "--meta", "owner=ana", "--json"
    )
    assert r.returncode == 0, r.stderr
    pushed = json.loads(r.stdout)
    assert pushed["created"] and pushed["version"] == 1 and pushed["meta"] == {"owner": "ana"}

    again = run_cli(env, "datasets", "push", "cities", str(data))
    assert again.returncode == 0 and "identical to cities@1" in again.stdout

    (data / "t.csv").write_text("id,score,city,zip\n1,0.5,Oslo,1\n2,0.9,Lima,2\n")
    assert run_cli(env, "datasets", "push", "cities", str(data)).returncode == 0

    shown = json.loads(run_cli(env, "datasets", "show", "cities@1", "--json").stdout)
    cols = {c["name"]: c for c in shown["stats"]["tables"]["t.csv"]["columns"]}
    assert shown["stats"]["tables"]["t.csv"]["rows"] == 3 and cols["score"]["nulls"] == 1

    listed = json.loads(run_cli(env, "datasets", "list", "--json").stdout)
    assert [(d["name"], d["latest_version"], d["version_count"]) for d in listed] == [
        ("cities", 2, 2)
    ]

    diff = json.loads(run_cli(env, "datasets", "diff", "cities@1", "cities@2", "--json").stdout)
    assert diff["files_changed"][0]["path"] == "t.csv"
    assert diff["tables"]["t.csv"]["columns_added"] == ["zip"]
    human = run_cli(env, "datasets", "diff", "cities@1", "cities/2")
    assert human.returncode == 0 and "+ column zip" in human.stdout

    out = tmp_path / "out"
    pulled = run_cli(env, "datasets", "pull", "cities@1", str(out), "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert (out / "t.csv").read_text().startswith("id,score,city\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["datasets", "push", "../x", "{data}"], "invalid dataset name"),
        (["datasets", "push", "a/b", "{data}"], "invalid dataset name"),
        (["datasets", "push", "x" * 300, "{data}"], "invalid dataset name"),
        (["datasets", "push", "ok", "{tmp}/missing"], "does not exist"),
        (["datasets", "push", "ok", "{data}", "--meta", "novalue"], "KEY=VALUE"),
        (["datasets", "show", "ghost"], "does not exist"),
        (["datasets", "show", "ghost@x@y"], "invalid alias"),
        (["datasets", "pull", "ghost@2", "{tmp}/o"], "does not exist"),
        (["datasets", "diff", "ghost@1", "ghost@2"], "does not exist"),
    ],
)
def test_bad_input_exits_1_with_a_message_and_no_traceback(
    env: dict[str, str], data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    argv = [a.format(data=data, tmp=tmp_path) for a in args]
    r = run_cli(env, *argv)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    listed = run_cli(env, "datasets", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_name_with_nul_is_refused(env: dict[str, str], data: Path) -> None:
    # A NUL cannot travel in argv; the Python API refuses it (tests/datasets) and the CLI
    # refuses names that only look similar.
    r = run_cli(env, "datasets", "push", "a\\x00b", str(data))
    assert r.returncode == 1 and "invalid dataset name" in r.stderr


def test_unknown_version_names_the_latest(env: dict[str, str], data: Path) -> None:
    assert run_cli(env, "datasets", "push", "d", str(data)).returncode == 0
    r = run_cli(env, "datasets", "show", "d@9")
    assert r.returncode == 1 and "latest is 1" in r.stderr


def test_pull_into_non_empty_folder_exits_1_and_writes_nothing(
    env: dict[str, str], data: Path, tmp_path: Path
) -> None:
    assert run_cli(env, "datasets", "push", "d", str(data)).returncode == 0
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine").write_text("x")
    r = run_cli(env, "datasets", "pull", "d", str(busy))
    assert r.returncode == 1 and "not an empty folder" in r.stderr
    assert [p.name for p in busy.iterdir()] == ["mine"]


def test_usage_errors_exit_2(env: dict[str, str]) -> None:
    r = run_cli(env, "datasets", "push")
    assert r.returncode == 2


def test_fsck_reports_corruption_with_exit_1(env: dict[str, str], data: Path) -> None:
    assert run_cli(env, "datasets", "push", "d", str(data)).returncode == 0
    ok = run_cli(env, "fsck", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    pack = next(p for p in (Path(env["LOOPML_BLOBS"]) / "packs").rglob("*") if p.is_file())
    raw = bytearray(pack.read_bytes())
    raw[10] ^= 0xFF
    pack.write_bytes(bytes(raw))
    bad = run_cli(env, "fsck", "--json")
    assert bad.returncode == 1
    assert any(pack.name in p for p in json.loads(bad.stdout)["problems"])


def test_gc_reports_what_it_freed(env: dict[str, str], data: Path) -> None:
    assert run_cli(env, "datasets", "push", "d", str(data)).returncode == 0
    r = run_cli(env, "gc", "--json", "--grace", "0")
    assert r.returncode == 0 and json.loads(r.stdout)["packs_deleted"] == 0


def test_the_command_closes_its_store_before_it_ends(tmp_path: Path, data: Path) -> None:
    """The command closes the stores it opened at its end, rather than leaving them to the
    interpreter's teardown: SQLite's write-ahead log is folded back and removed."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(home)
    r = run_cli(env, "datasets", "push", "closed", str(data), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["created"]
    assert (home / "loopml.db").is_file()
    left = sorted(p.name for p in home.rglob("*") if p.name.endswith(("-wal", "-shm")))
    assert left == []
