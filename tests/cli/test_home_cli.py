"""A LOOPML_HOME that cannot be used: one clear line naming the path, exit 1, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInput
from loopml.sdk import Client
from tests.conftest import run_cli


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new entries, for root too: root ignores permission bits, but not
    the immutable attribute (``chattr +i``)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: no way to make a folder read-only for root")
    done = subprocess.run([chattr, "+i", str(folder)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"running as root and this file system refuses chattr +i: {done.stderr}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def _file(tmp: Path) -> tuple[Path, str]:
    (tmp / "home").write_text("not a folder")
    return tmp / "home", "is a file, not a folder"


def _under_a_file(tmp: Path) -> tuple[Path, str]:
    (tmp / "plain").write_text("not a folder")
    return tmp / "plain" / "deeper" / "home", f"{str(tmp / 'plain')!r} is a file, not a folder"


def _read_only(tmp: Path) -> tuple[Path, str]:
    (tmp / "home").mkdir()
    return tmp / "home", "is not writable"


def _read_only_parent(tmp: Path) -> tuple[Path, str]:
    (tmp / "parent").mkdir()
    return tmp / "parent" / "home", "cannot create the loopml home"


CASES: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "file": _file,
    "under-a-file": _under_a_file,
    "read-only": _read_only,
    "read-only-parent": _read_only_parent,
}


@contextmanager
def unusable_home(kind: str, tmp: Path) -> Iterator[tuple[Path, str]]:
    home, reason = CASES[kind](tmp)
    if kind.startswith("read-only"):
        with read_only(home if kind == "read-only" else home.parent):
            yield home, reason
    else:
        yield home, reason


@pytest.mark.parametrize("kind", list(CASES))
def test_unusable_home_is_one_clear_error_for_every_command(kind: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    (tmp_path / "case").mkdir()
    with unusable_home(kind, tmp_path / "case") as (home, reason):
        env["LOOPML_HOME"] = str(home)
        for args in (
            ["datasets", "push", "d", str(data)],
            ["datasets", "list"],
            ["runs", "list", "--json"],
            ["models", "list"],
            ["deploy", "m", "--version", "1"],
            ["fsck"],
        ):
            res = run_cli(env, *args)
            assert res.returncode == 1, (args, res.stdout, res.stderr)
            assert res.stderr.startswith("error: ") and len(res.stderr.splitlines()) == 1
            assert str(home) in res.stderr and reason in res.stderr, res.stderr
            assert "LOOPML_HOME" in res.stderr, res.stderr
            assert "Traceback" not in res.stderr and "internal error" not in res.stderr


@pytest.mark.parametrize("kind", list(CASES))
def test_sdk_raises_invalid_input_for_an_unusable_home(kind: str, tmp_path: Path) -> None:
    (tmp_path / "case").mkdir()
    with unusable_home(kind, tmp_path / "case") as (home, reason):
        client = Client(home=str(home))
        with pytest.raises(InvalidInput, match=reason):
            client.datasets.list()
        assert not (home.is_dir() and any(home.iterdir()))  # nothing half-created inside


def test_missing_home_and_parents_are_created(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b" / "home"
    client = Client(home=str(home))
    try:
        assert client.datasets.list() == []
    finally:
        client.close()
    assert (home / "loopml.db").is_file()
