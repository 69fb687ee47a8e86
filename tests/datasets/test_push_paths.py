"""A folder push (and ``log_artifact``) stays inside the folder: links out of it, link loops
and names that are not UTF-8 are refused with the path, through the SDK and the CLI."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInput
from loopml.core.settings import load_settings
from loopml.sdk import Client
from tests.conftest import run_cli


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Client]:
    """One SQLite store: walking a folder does not depend on the database."""
    settings = load_settings(
        env={},
        home=str(tmp_path / "home"),
        db=f"sqlite:///{tmp_path / 'home' / 'loopml.db'}",
        blobs=str(tmp_path / "blobs"),
    )
    c = Client(settings)
    yield c
    c.close()


def _base(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_bytes(b"a")
    (d / "sub" / "b.txt").write_bytes(b"b")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "c.txt").write_bytes(b"secret too")
    return d


def _link(target: str) -> Callable[[Path], tuple[Path, str]]:
    def make(d: Path) -> tuple[Path, str]:
        (d / "sub" / "link").symlink_to(target)
        return d / "sub" / "link", "outside"

    return make


def _loop(d: Path) -> tuple[Path, str]:
    (d / "sub" / "loop").symlink_to("loop")
    return d / "sub" / "loop", "symlink loop"


def _pair_loop(d: Path) -> tuple[Path, str]:
    (d / "x").symlink_to("y")
    (d / "y").symlink_to("x")
    return d / "x", "symlink loop"


def _bad_name(d: Path) -> tuple[Path, str]:
    raw = os.fsencode(d) + b"/sub/bad\xff.txt"
    os.close(os.open(raw, os.O_CREAT | os.O_WRONLY, 0o644))
    return Path(os.fsdecode(raw)), "not valid UTF-8"


def _bad_folder_name(d: Path) -> tuple[Path, str]:
    raw = os.fsencode(d) + b"/caf\xe9"
    os.mkdir(raw)
    os.close(os.open(raw + b"/x.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    return Path(os.fsdecode(raw + b"/x.txt")), "not valid UTF-8"


HOSTILE = {
    "abs-file": _link("{tmp}/outside.txt"),
    "rel-file": _link("../../outside.txt"),
    "folder": _link("{tmp}/outdir"),
    "parent": _link("../.."),
    "root": _link("/"),
    "loop": _loop,
    "pair-loop": _pair_loop,
    "bad-name": _bad_name,
    "bad-folder-name": _bad_folder_name,
}


def _make(tmp_path: Path, kind: str) -> tuple[Path, Path, str]:
    d = _base(tmp_path)
    maker = HOSTILE[kind]
    if maker.__name__ == "make":  # a link whose target may name tmp_path
        cell = maker.__closure__[0].cell_contents  # type: ignore[index]
        maker = _link(cell.format(tmp=tmp_path))
    path, message = maker(d)
    return d, path, message


def _shown(path: Path) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_push_of_a_folder_refuses_what_leaves_it_naming_the_path(
    lite: Client, tmp_path: Path, kind: str
) -> None:
    d, path, message = _make(tmp_path, kind)
    with pytest.raises(InvalidInput, match=message) as err:
        lite.datasets.push("ds", d)
    assert _shown(path) in str(err.value)
    assert str(err.value).encode("utf-8")  # printable and JSON-safe: no lone surrogates
    assert lite.datasets.list() == []
    with (
        lite.tracking.start_run(experiment="e") as run,
        pytest.raises(InvalidInput, match=message),
    ):
        run.log_artifact(d, artifact_path="out")
    assert lite.tracking.get_run(run.id).artifacts == ()


@pytest.mark.parametrize("kind", ["abs-file", "folder", "loop", "bad-name"])
def test_the_cli_refuses_the_same_with_exit_1_and_no_traceback(
    lite: Client, tmp_path: Path, kind: str
) -> None:
    d, path, message = _make(tmp_path, kind)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(
        LOOPML_HOME=str(lite.settings.home),
        LOOPML_DB=lite.settings.db_url,
        LOOPML_BLOBS=lite.settings.blobs_url,
    )
    r = run_cli(env, "datasets", "push", "ds", str(d))
    assert r.returncode == 1, r.stderr
    assert re.search(message, r.stderr) and "Traceback" not in r.stderr
    assert _shown(path) in r.stderr


def test_links_that_stay_inside_the_folder_are_read_once(lite: Client, tmp_path: Path) -> None:
    d = _base(tmp_path)
    (d / "alias.txt").symlink_to("sub/b.txt")
    (d / "subalias").symlink_to("sub")
    r = lite.datasets.push("ds", d)
    assert [f.path for f in r.version.files] == ["a.txt", "alias.txt", "sub/b.txt"]
    with lite.tracking.start_run(experiment="e") as run:
        run.log_artifact(d)
    assert sorted(a.path for a in lite.tracking.get_run(run.id).artifacts) == [
        "a.txt",
        "alias.txt",
        "sub/b.txt",
    ]


@pytest.mark.parametrize("kind", ["loop", "dangling"])
def test_a_single_file_source_that_is_a_bad_link_is_a_clear_error(
    lite: Client, tmp_path: Path, kind: str
) -> None:
    link = tmp_path / "f.csv"
    link.symlink_to("f.csv" if kind == "loop" else "gone.csv")
    with pytest.raises(InvalidInput, match=r"symlink loop|broken symlink"):
        lite.datasets.push("ds", link)


def test_a_single_file_with_a_name_that_is_not_utf8_is_refused_by_sdk_and_cli(
    lite: Client, tmp_path: Path
) -> None:
    raw = os.fsencode(tmp_path) + b"/r\xe9sum\xe9.csv"
    with open(raw, "wb") as f:
        f.write(b"a\n1\n")
    path = Path(os.fsdecode(raw))
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        lite.datasets.push("ds", path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(
        LOOPML_HOME=str(lite.settings.home),
        LOOPML_DB=lite.settings.db_url,
        LOOPML_BLOBS=lite.settings.blobs_url,
    )
    r = run_cli(env, "datasets", "push", "ds", os.fsdecode(raw))
    assert r.returncode == 1 and "not valid UTF-8" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and _shown(path) in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_refused(lite: Client, tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("x")
    f.chmod(0)
    with pytest.raises(InvalidInput, match="permission denied"):
        lite.datasets.push("m", f)
