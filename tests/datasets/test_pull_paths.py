"""A pull writes only what it creates: planted links, linked destinations, long and refused
names, and the trailing-slash rule, the same through the SDK and the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.blobs.export import STAGING_PREFIX
from loopml.core.errors import Conflict, InvalidInput
from loopml.core.settings import load_settings
from loopml.sdk import Client
from tests.conftest import run_cli

# Path handling does not depend on the database: one SQLite store keeps these fast.


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Client]:
    settings = load_settings(
        env={},
        home=str(tmp_path / "home"),
        db=f"sqlite:///{tmp_path / 'home' / 'loopml.db'}",
        blobs=str(tmp_path / "blobs"),
    )
    c = Client(settings)
    yield c
    c.close()


@pytest.fixture
def lite_env(lite: Client) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    e.update(
        LOOPML_HOME=str(lite.settings.home),
        LOOPML_DB=lite.settings.db_url,
        LOOPML_BLOBS=lite.settings.blobs_url,
        COLUMNS="200",
    )
    return e


def _leftovers(*folders: Path) -> list[str]:
    return [p.name for f in folders for p in f.iterdir() if p.name.startswith(STAGING_PREFIX)]


@pytest.fixture
def single(lite: Client, tmp_path: Path) -> str:
    src = tmp_path / "src" / "one.csv"
    src.parent.mkdir()
    src.write_bytes(b"a\n1\n")
    lite.datasets.push("one", src)
    return "one"


@pytest.fixture
def folder(lite: Client, tmp_path: Path) -> str:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.bin").write_bytes(b"A" * 1000)
    (src / "sub" / "b.txt").write_bytes(b"bee")
    lite.datasets.push("tree", src)
    return "tree"


@pytest.mark.parametrize(
    "planted",
    [".out.csv.loopml-tmp", ".one.csv.loopml-tmp", ".loopml-pull-x", ".loopml-tmp", "f"],
)
def test_a_link_planted_at_a_temporary_name_is_never_written_through(
    lite: Client, single: str, tmp_path: Path, planted: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / planted).symlink_to(victim)
    out = lite.datasets.pull(single, dest / "out.csv")
    assert out.read_bytes() == b"a\n1\n" and not out.is_symlink()
    assert lite.datasets.pull(single, f"{dest}/").read_bytes() == b"a\n1\n"
    assert victim.read_bytes() == b"precious"
    assert (dest / planted).is_symlink()  # not replaced either
    assert [n for n in _leftovers(dest) if n != planted] == []


def _links(tmp_path: Path) -> dict[str, Path]:
    """Destinations that are themselves links: to a file, to a folder, dangling."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    empty = tmp_path / "empty"
    empty.mkdir()
    links = {}
    for name, target in {
        "to_file": victim,
        "to_folder": empty,
        "dangling": tmp_path / "nowhere",
    }.items():
        links[name] = tmp_path / f"link_{name}"
        links[name].symlink_to(target)
    return links


@pytest.mark.parametrize("kind", ["to_file", "dangling"])
def test_a_single_file_pull_to_a_link_is_refused(
    lite: Client, single: str, tmp_path: Path, kind: str
) -> None:
    link = _links(tmp_path)[kind]
    with pytest.raises(InvalidInput, match="symbolic link"):
        lite.datasets.pull(single, link)
    assert (tmp_path / "victim.txt").read_bytes() == b"precious"
    assert not (tmp_path / "nowhere").exists()
    assert link.is_symlink() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["to_file", "to_folder", "dangling"])
def test_a_folder_pull_to_a_link_is_refused(
    lite: Client, folder: str, tmp_path: Path, kind: str
) -> None:
    link = _links(tmp_path)[kind]
    for dest in (str(link), f"{link}/"):
        with pytest.raises(InvalidInput, match="symbolic link"):
            lite.datasets.pull(folder, dest)
    assert list((tmp_path / "empty").iterdir()) == []
    assert not (tmp_path / "nowhere").exists()
    assert link.is_symlink() and _leftovers(tmp_path) == []


def test_a_dangling_link_named_as_a_folder_is_refused(
    lite: Client, single: str, tmp_path: Path
) -> None:
    link = _links(tmp_path)["dangling"]
    with pytest.raises(InvalidInput, match="symbolic link"):
        lite.datasets.pull(single, f"{link}/")
    assert not (tmp_path / "nowhere").exists()


def test_a_linked_parent_folder_works_like_a_symlinked_home(
    lite: Client, single: str, folder: str, tmp_path: Path
) -> None:
    real = tmp_path / "real_home"
    real.mkdir()
    home = tmp_path / "home_link"
    home.symlink_to(real)
    assert lite.datasets.pull(single, home / "x.csv").read_bytes() == b"a\n1\n"
    assert lite.datasets.pull(single, home).name == "one.csv"  # a link to a folder: inside it
    out = lite.datasets.pull(folder, home / "tree")
    assert (out / "sub" / "b.txt").read_bytes() == b"bee"
    assert sorted(p.name for p in real.iterdir()) == ["one.csv", "tree", "x.csv"]


@pytest.mark.parametrize("length", [200, 250, 255])
def test_a_file_name_that_pushes_also_pulls(lite: Client, tmp_path: Path, length: int) -> None:
    name = "n" * (length - 4) + ".txt"
    src = tmp_path / "src"
    src.mkdir()
    (src / name).write_bytes(b"long")
    lite.datasets.push("long", src / name)
    lite.datasets.push("longtree", src)
    assert lite.datasets.pull("long", f"{tmp_path / 'a'}/").name == name
    assert (lite.datasets.pull("long", tmp_path / "a" / "copy")).read_bytes() == b"long"
    assert (lite.datasets.pull("longtree", tmp_path / "b") / name).read_bytes() == b"long"
    assert _leftovers(tmp_path, tmp_path / "a") == []


@pytest.mark.parametrize(
    "name", ["x" * 256, "é" * 128, "y" * 1000, "bad\x00name"], ids=["256", "utf8", "1000", "nul"]
)
def test_a_destination_name_the_file_system_refuses_is_a_clear_error(
    lite: Client, single: str, folder: str, tmp_path: Path, name: str
) -> None:
    for ref in (single, folder):
        with pytest.raises(InvalidInput, match=r"refuses the name|NUL"):
            lite.datasets.pull(ref, tmp_path / name)
    assert _leftovers(tmp_path) == []


def test_an_existing_destination_is_never_replaced(
    lite: Client, single: str, folder: str, tmp_path: Path
) -> None:
    taken = tmp_path / "taken.csv"
    taken.write_bytes(b"mine")
    with pytest.raises(Conflict, match="already exists"):
        lite.datasets.pull(single, taken)
    with pytest.raises(Conflict, match="not an empty folder"):
        lite.datasets.pull(folder, taken)
    with pytest.raises(Conflict, match="not an empty folder"):
        lite.datasets.pull(folder, f"{taken}/")
    assert taken.read_bytes() == b"mine"
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "one.csv").write_bytes(b"old")
    with pytest.raises(Conflict, match="already exists"):
        lite.datasets.pull(single, tmp_path / "box")
    assert (tmp_path / "box" / "one.csv").read_bytes() == b"old"
    assert _leftovers(tmp_path, tmp_path / "box") == []


def test_pulled_files_get_the_usual_permissions(
    lite: Client, single: str, folder: str, tmp_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        f = lite.datasets.pull(single, tmp_path / "f.csv")
        d = lite.datasets.pull(folder, tmp_path / "d")
    finally:
        os.umask(old)
    assert f.stat().st_mode & 0o777 == 0o644
    assert d.stat().st_mode & 0o777 == 0o755
    assert (d / "sub").stat().st_mode & 0o777 == 0o755
    assert (d / "sub" / "b.txt").stat().st_mode & 0o777 == 0o644


# ---------- the trailing slash: cp's rule, one function for the CLI and the SDK ----------
def _cases(tmp_path: Path) -> list[tuple[str, Path]]:
    """(destination as typed, where the single file must land)."""
    (tmp_path / "exists").mkdir()
    return [
        (f"{tmp_path / 'restore'}/", tmp_path / "restore" / "one.csv"),
        (str(tmp_path / "exists"), tmp_path / "exists" / "one.csv"),
        (f"{tmp_path / 'exists'}/", tmp_path / "exists" / "one.csv"),
        (str(tmp_path / "plain.csv"), tmp_path / "plain.csv"),
        (f"{tmp_path / 'exists'}//", tmp_path / "exists" / "one.csv"),
    ]


def test_the_sdk_reads_a_trailing_slash_as_a_folder(
    lite: Client, single: str, tmp_path: Path
) -> None:
    for typed, where in _cases(tmp_path):
        assert lite.datasets.pull(single, typed) == where
        assert where.read_bytes() == b"a\n1\n"
        where.unlink()


def test_the_cli_reads_a_trailing_slash_like_the_sdk(
    lite_env: dict[str, str], single: str, tmp_path: Path
) -> None:
    for typed, where in _cases(tmp_path):
        r = run_cli(lite_env, "datasets", "pull", single, typed, "--json")
        assert r.returncode == 0, r.stderr
        assert where.read_bytes() == b"a\n1\n", typed
        where.unlink()


def test_the_cli_reports_link_and_name_errors_without_a_traceback(
    lite_env: dict[str, str], single: str, folder: str, tmp_path: Path
) -> None:
    links = _links(tmp_path)
    for ref, dest, message in [
        (single, str(links["dangling"]), "symbolic link"),
        (folder, str(links["to_folder"]), "symbolic link"),
        (single, str(tmp_path / ("z" * 300)), "refuses the name"),
        (single, str(tmp_path / "taken"), "already exists"),
    ]:
        (tmp_path / "taken").touch()
        r = run_cli(lite_env, "datasets", "pull", ref, dest)
        assert r.returncode == 1, r.stderr
        assert message in r.stderr and "Traceback" not in r.stderr
    assert _leftovers(tmp_path) == []
