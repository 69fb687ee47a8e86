"""The unchanged-data answer a push gets from the hash cache and one read, before the stores
open (what makes a warm ``loopml datasets push`` fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopml.core.settings import Settings
from loopml.datasets.quick import unchanged_push
from loopml.sdk import Client
from tests.conftest import run_cli


def _aged_folder(root: Path, files: dict[str, bytes]) -> Path:
    """Files old enough for the hash cache (it skips files modified in the last seconds)."""
    past = time.time() - 60
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (past, past))
    return root


def test_answers_like_the_regular_push_for_unchanged_data(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    src = _aged_folder(tmp_path / "d", {"a.bin": os.urandom(300_000), "sub/t.csv": b"x,y\n1,2\n"})
    first = client.datasets.push("q", src, message="m", meta={"k": "v"})
    regular = client.datasets.push("q", src)
    quick = unchanged_push(settings, "q", src)
    if not settings.db_url.startswith("sqlite"):
        assert quick is None  # only the embedded database is read without SQLAlchemy
        return
    assert quick is not None and quick.created is False
    assert quick.bytes_read == 0 and quick.bytes_new == 0
    assert quick.version.to_dict(with_files=False) == regular.version.to_dict(with_files=False)
    assert quick.version == first.version
    assert quick.version.meta == {"k": "v"} and quick.version.message == "m"


def test_any_doubt_falls_back_to_the_regular_push(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    src = _aged_folder(tmp_path / "d", {"a.bin": b"A" * 5000, "b.bin": b"B" * 5000})
    assert unchanged_push(settings, "q", src) is None  # no database yet
    if not settings.db_url.startswith("sqlite"):
        client.datasets.push("q", src)
        # the quick answer is only taken on the embedded database: PostgreSQL always doubts
        assert unchanged_push(settings, "q", src) is None
        assert client.datasets.push("q", src).created is False
        return
    client.datasets.push("q", src)
    assert unchanged_push(settings, "other", src) is None  # no such dataset
    assert unchanged_push(settings, "q", src) is not None

    os.utime(src / "a.bin")  # same bytes, new mtime: not in the cache, so not certain
    assert unchanged_push(settings, "q", src) is None
    assert client.datasets.push("q", src).created is False  # the regular push decides
    _aged_folder(src, {"a.bin": b"A" * 5000})
    client.datasets.push("q", src)  # caches the aged file again
    assert unchanged_push(settings, "q", src) is not None

    _aged_folder(src, {"c.bin": b"new file"})  # a file more than the latest version
    assert unchanged_push(settings, "q", src) is None
    (src / "c.bin").unlink()
    (src / "b.bin").unlink()  # a file fewer: every remaining file is cached, digest differs
    assert unchanged_push(settings, "q", src) is None
    remote = Settings(settings.home, settings.db_url, settings.blobs_url, uri="http://x")
    _aged_folder(src, {"b.bin": b"B" * 5000})
    assert unchanged_push(remote, "q", src) is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # an embedded schema file
def test_an_older_schema_is_left_to_the_regular_path(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    import sqlite3

    src = _aged_folder(tmp_path / "d", {"a.bin": b"A" * 5000})
    client.datasets.push("q", src)
    client.datasets.push("q", src)
    db = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"))
    with db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")
    db.close()
    assert unchanged_push(settings, "q", src) is None


def test_bad_input_is_refused_the_same_way(settings: Settings, tmp_path: Path) -> None:
    from loopml.core.errors import InvalidInput, InvalidName

    with pytest.raises(InvalidName):
        unchanged_push(settings, "../x", tmp_path)
    with pytest.raises(InvalidInput, match="does not exist"):
        unchanged_push(settings, "q", tmp_path / "missing")


def test_cli_answers_an_unchanged_push_without_loading_sqlalchemy(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    src = _aged_folder(tmp_path / "d", {"a.bin": os.urandom(100_000)})
    first = run_cli(env, "datasets", "push", "q", str(src), "--json")
    assert first.returncode == 0, first.stderr
    script = (
        "import sys\n"
        "from loopml.cli.app import main\n"
        "sys.argv = ['loopml', 'datasets', 'push', 'q', sys.argv[1], '--json']\n"
        "try:\n    main()\n"
        "finally:\n    sys.stderr.write('sqlalchemy loaded: %s' % ('sqlalchemy' in sys.modules))\n"
    )
    again = subprocess.run(
        [sys.executable, "-c", script, str(src)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["created"] is False and out["version"] == 1
    assert out["content_digest"] == json.loads(first.stdout)["content_digest"]
    embedded = settings.db_url.startswith("sqlite")
    assert f"sqlalchemy loaded: {not embedded}" in again.stderr
