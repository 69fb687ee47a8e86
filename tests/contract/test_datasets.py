"""The dataset registry through its Python API."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from loopml import Client, Conflict, InvalidInput, InvalidName, NotFound
from loopml.api.events import EventKind

pytestmark = pytest.mark.services("datasets")


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.mark.blobs
def test_push_creates_numbered_versions_with_parent_and_author(
    client: Client, tmp_path: Path
) -> None:
    src = _folder(tmp_path / "d", {"a.bin": os.urandom(200_000), "sub/b.txt": b"hello"})
    r1 = client.datasets.push("raw", src, message="first", meta={"source": "crm"})
    (src / "c.txt").write_bytes(b"new")
    r2 = client.datasets.push("raw", src)
    assert (r1.created, r1.version.version, r1.version.parent_version) == (True, 1, None)
    assert (r2.version.version, r2.version.parent_version) == (2, 1)
    v1 = client.datasets.show("raw@1")
    assert v1.message == "first" and v1.meta == {"source": "crm"}
    assert v1.file_count == 2 and v1.total_bytes == 200_005
    assert "@" in v1.created_by
    assert [f.path for f in client.datasets.show("raw").files] == ["a.bin", "c.txt", "sub/b.txt"]


def test_push_identical_content_returns_existing_version(client: Client, tmp_path: Path) -> None:
    src = _folder(tmp_path / "d", {"a.bin": os.urandom(100_000)})
    first = client.datasets.push("same", src)
    again = client.datasets.push("same", src)
    assert again.created is False
    assert again.version.version == first.version.version == 1
    assert [d.latest_version for d in client.datasets.list()] == [1]


@pytest.mark.services("events")
def test_every_new_version_appends_an_event(client: Client, tmp_path: Path) -> None:
    src = _folder(tmp_path / "d", {"x": b"1"})
    client.datasets.push("ev", src)
    client.datasets.push("ev", src)  # unchanged: no event
    rows = client.services.events.read_after(0)
    assert [(e.kind, e.subject) for e in rows] == [(EventKind.DATASET_VERSION_CREATED, "ev@1")]
    assert rows[0].payload.version == 1  # type: ignore[union-attr]


@pytest.mark.blobs
def test_pull_writes_the_exact_bytes_back(client: Client, tmp_path: Path) -> None:
    files = {"a.bin": os.urandom(1_500_000), "deep/er/b.csv": b"x,y\n1,2\n", "empty": b""}
    src = _folder(tmp_path / "d", files)
    client.datasets.push("rt", src)
    out = client.datasets.pull("rt@1", tmp_path / "out")
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data


def test_single_file_pull_into_folder_keeps_its_name(client: Client, tmp_path: Path) -> None:
    f = tmp_path / "one.txt"
    f.write_bytes(b"solo")
    client.datasets.push("one", f)
    (tmp_path / "dest").mkdir()
    assert client.datasets.pull("one", tmp_path / "dest").read_bytes() == b"solo"
    assert (tmp_path / "dest" / "one.txt").exists()


@pytest.mark.blobs
def test_dataframe_push_round_trips_as_a_dataframe(client: Client) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, None, 2.5]})
    r = client.datasets.push("frame", df)
    assert r.version.kind == "dataframe"
    table = r.version.stats["tables"]["data.parquet"]
    assert table["rows"] == 3 and [c["name"] for c in table["columns"]] == ["a", "b", "c"]
    pd.testing.assert_frame_equal(client.datasets.load("frame@1"), df)


def test_load_csv_version_returns_dataframe_and_folder_returns_path(
    client: Client, tmp_path: Path
) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    client.datasets.push("tab", csv)
    assert client.datasets.load("tab").to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
    src = _folder(tmp_path / "imgs", {"1.png": b"\x89PNG..", "2.png": b"\x89PNG.."})
    client.datasets.push("imgs", src)
    path = client.datasets.load("imgs@1")
    assert sorted(p.name for p in Path(path).iterdir()) == ["1.png", "2.png"]


def test_diff_reports_files_and_table_changes(client: Client, tmp_path: Path) -> None:
    d = tmp_path / "d"
    _folder(d, {"t.csv": b"a,b\n1,2\n3,4\n", "old.txt": b"bye"})
    client.datasets.push("df", d)
    (d / "old.txt").unlink()
    (d / "t.csv").write_bytes(b"a,b,c\n1,2,x\n3,4,y\n5,6,z\n")
    (d / "new.txt").write_bytes(b"hi")
    client.datasets.push("df", d)
    diff = client.datasets.diff("df@1", "df@2")
    assert [f["path"] for f in diff["files_added"]] == ["new.txt"]
    assert [f["path"] for f in diff["files_removed"]] == ["old.txt"]
    assert [f["path"] for f in diff["files_changed"]] == ["t.csv"]
    table = diff["tables"]["t.csv"]
    assert table["rows"]["old"] == 2 and table["rows"]["new"] == 3
    assert table["columns_added"] == ["c"]


def test_unparseable_csv_is_stored_and_show_says_why(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2,3,4\n\x00\xff\n")
    r = client.datasets.push("bad", bad)
    assert r.created
    stats = client.datasets.show("bad").stats["tables"]["bad.csv"]
    assert stats.get("error")
    assert client.datasets.pull("bad", tmp_path / "back.csv").read_bytes() == bad.read_bytes()


def test_tables_over_the_profiling_budget_are_stored_and_show_says_why(
    client: Client, tmp_path: Path
) -> None:
    from loopml.datasets.push import STATS_BUDGET

    folder = tmp_path / "big"
    folder.mkdir()
    block = b"a,b\n" + b"1,2\n" * (2**20 // 4)  # 1 MiB of CSV; copies dedupe in the store
    for i in range(STATS_BUDGET // len(block) + 1):
        (folder / f"part-{i:03d}.csv").write_bytes(block)
    (folder / "small.csv").write_bytes(b"a\n1\n")
    client.datasets.push("big", folder)
    stats = client.datasets.show("big").stats
    assert "tables" not in stats
    assert f"{STATS_BUDGET >> 20} MiB profiling budget" in stats["skipped"]


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x" * 300, "a\x00b"])
def test_invalid_names_write_nothing(client: Client, tmp_path: Path, name: str) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"1")
    with pytest.raises(InvalidName):
        client.datasets.push(name, f)
    assert client.datasets.list() == []


def test_missing_path_and_special_files_are_refused(client: Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        client.datasets.push("m", tmp_path / "nope")
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(InvalidInput, match="holds no files"):
        client.datasets.push("m", d)
    (d / "ok.txt").write_text("x")
    os.mkfifo(d / "pipe")
    with pytest.raises(InvalidInput, match="not a regular file"):
        client.datasets.push("m", d)
    (d / "pipe").unlink()
    (d / "link").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text("secret")
    with pytest.raises(InvalidInput, match="outside"):
        client.datasets.push("m", d)
    (d / "link").unlink()
    (d / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(InvalidInput, match="broken symlink"):
        client.datasets.push("m", d)
    assert client.datasets.list() == []


def test_unknown_dataset_and_version_say_what_exists(client: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="loopml datasets list"):
        client.datasets.show("ghost")
    f = tmp_path / "f"
    f.write_text("1")
    client.datasets.push("real", f)
    with pytest.raises(NotFound, match="latest is 1"):
        client.datasets.show("real@9")


def test_pull_into_non_empty_folder_writes_nothing(client: Client, tmp_path: Path) -> None:
    src = _folder(tmp_path / "d", {"a": b"1", "b": b"2"})
    client.datasets.push("p", src)
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(Conflict, match="not an empty folder"):
        client.datasets.pull("p", dest)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".busy")] == []


def test_unchanged_files_are_not_reread(client: Client, tmp_path: Path) -> None:
    src = _folder(tmp_path / "d", {f"f{i}": os.urandom(50_000) for i in range(5)})
    past = 1_600_000_000
    for p in src.iterdir():
        os.utime(p, (past, past))  # old enough to be trusted by the hash cache
    client.datasets.push("warm", src)
    (src / "f0").write_bytes(os.urandom(50_000))
    os.utime(src / "f0", (past + 5, past + 5))
    r = client.datasets.push("warm", src)
    assert r.created and r.bytes_read == 50_000


@pytest.mark.blobs
@pytest.mark.services("maintenance")
def test_gc_keeps_referenced_data_and_fsck_stays_clean(client: Client, tmp_path: Path) -> None:
    src = _folder(tmp_path / "d", {"a": os.urandom(100_000)})
    client.datasets.push("g", src)
    report = client.maintenance.gc(grace_s=0)
    assert report.files_removed == 0 and report.packs_deleted == 0
    assert client.datasets.pull("g", tmp_path / "o") and client.maintenance.fsck().ok
    assert [v.version for v in client.datasets.versions("g")] == [1]


@pytest.mark.blobs
@pytest.mark.services("maintenance")
def test_registry_round_trip_keeps_the_store_sound(client: Client, tmp_path: Path) -> None:
    """Formerly the S3-only test; the blobs dimension now runs it on every blob store."""
    src = _folder(tmp_path / "d", {"a.bin": os.urandom(700_000), "t.csv": b"a\n1\n2\n"})
    assert client.datasets.push("s3ds", src).created
    assert not client.datasets.push("s3ds", src).created
    out = client.datasets.pull("s3ds@1", tmp_path / "out")
    assert (out / "a.bin").read_bytes() == (src / "a.bin").read_bytes()
    assert client.datasets.show("s3ds").stats["tables"]["t.csv"]["rows"] == 2
    assert client.maintenance.fsck().ok


def test_single_file_pull_to_a_path_ending_in_slash_creates_that_folder(
    client: Client, tmp_path: Path
) -> None:
    f = tmp_path / "one.csv"
    f.write_text("a\n1\n")
    client.datasets.push("slash", f)
    out = client.datasets.pull("slash", f"{tmp_path / 'restore'}/")
    assert out == tmp_path / "restore" / "one.csv" and out.read_text() == "a\n1\n"
