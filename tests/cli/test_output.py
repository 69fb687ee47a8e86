"""The CLI's rendering helpers: one size format, and tables that never shorten a name."""

from __future__ import annotations

import re
import warnings

import pytest

with warnings.catch_warnings():  # typer imports a name click deprecates; not ours to fix
    warnings.simplefilter("ignore", DeprecationWarning)
    from loopml.cli.output import Column, human_bytes, print_table


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (60263, "58.9 KiB"),
        (8 * 1024 * 1024, "8.0 MiB"),
        (5 * 1024**3 + 1, "5.0 GiB"),
        (3 * 1024**4, "3.0 TiB"),
    ],
)
def test_sizes_use_binary_units(n: int, text: str) -> None:
    assert human_bytes(n) == text


COLUMNS = [
    Column("name", key=True),
    Column("version", key=True),
    Column("size", wrap=False, drop=2),
    Column("updated", wrap=False, drop=3),
    Column("message", drop=1),
]


@pytest.mark.parametrize("width", [40, 60, 80, 120])
@pytest.mark.parametrize("longest", [5, 30, 50, 70, 128])
def test_tables_never_shorten_names_at_any_width(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], width: int, longest: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    names = ["n" * longest, "a.b_c-" + "d" * max(0, longest - 10), "short"]
    rows = [
        (name, str(10**i), "58.9 KiB", "2026-12-03T07:53:14Z", "a [bold]message[/] " * 4)
        for i, name in enumerate(names)
    ]
    print_table(COLUMNS, rows)
    out = capsys.readouterr().out
    for name, version, *_ in rows:
        assert re.search(rf"│ {re.escape(name)} +│ {version} ", out), out
    assert "…" not in out
    assert "[bold]" in out or "message" not in out  # plain text is never read as markup
    if longest + 10 + 7 <= width:  # the names fit: optional columns make room, no overflow
        assert all(len(line) <= width for line in out.splitlines()), out
