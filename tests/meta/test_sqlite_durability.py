"""The SQLite durability setting: ``?synchronous=full`` in the URL, NORMAL by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.errors import InvalidInput
from loopml.meta.engine import open_meta


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", 1), ("?synchronous=full", 2), ("?synchronous=FULL", 2), ("?synchronous=normal", 1)],
)
def test_sqlite_synchronous_follows_the_url(tmp_path: Path, query: str, expected: int) -> None:
    meta = open_meta(f"sqlite:///{tmp_path / 'loopml.db'}{query}")
    try:
        with meta.read() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert meta.engine.url.database == str(tmp_path / "loopml.db")
    finally:
        meta.dispose()


@pytest.mark.parametrize("value", ["off", "extra", "1", "full;drop"])
def test_sqlite_synchronous_refuses_other_values(tmp_path: Path, value: str) -> None:
    with pytest.raises(InvalidInput, match="synchronous"):
        open_meta(f"sqlite:///{tmp_path / 'loopml.db'}?synchronous={value}")
    assert not (tmp_path / "loopml.db").exists()
