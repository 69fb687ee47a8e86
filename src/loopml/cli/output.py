"""Rendering for people (rich) and for machines (``--json``), and the one error translator."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from loopml.core.errors import LoopError
from loopml.core.refs import parse_ref

if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from rich.text import Text


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def console(width: int | None = None) -> Any:
    from rich.console import Console

    return Console(highlight=False, width=width)


def fail(message: str, code: int = 1) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn a LoopError into ``error: …`` on stderr and exit code 1; never a traceback."""
    try:
        yield
    except LoopError as exc:
        raise fail(str(exc)) from None


@contextmanager
def byte_progress(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A transient rich progress bar on stderr for long transfers (only on a terminal)."""
    if not enabled or total < 64 * 1024 * 1024 or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    def speed(task: Any) -> str:  # rich's own speed column counts in decimal units
        return "" if task.speed is None else f"{human_bytes(task.speed)}/s"

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        _text_column(speed),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _text_column(render: Callable[[Any], str]) -> Any:
    """A progress column showing ``render(task)``."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class _Rendered(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(render(task), style="progress.data.speed")

    return _Rendered()


def human_bytes(n: float) -> str:
    """The one size format of the CLI: binary units (1 KiB = 1024 bytes), e.g. ``58.9 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@dataclass(frozen=True)
class Column:
    """A table column. ``key`` columns (names, versions, ids) are never shortened or left out;
    the others wrap when space is short (unless ``wrap`` is off: sizes, times), and those with
    a ``drop`` rank are left out, highest rank first, when the table cannot fit otherwise."""

    header: str
    key: bool = False
    drop: int = 0
    wrap: bool = True
    justify: JustifyMethod = "left"


_SHRUNK_MIN = 6  # narrowest a wrapping column gets before optional columns are dropped


def print_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str | Text]],
    title: str | None = None,
) -> None:
    """Print rows as a rich table that keeps every name whole at any terminal width.

    Plain strings are shown as they are (never parsed as markup); pass a ``rich.text.Text``
    for a styled cell."""
    from rich.table import Table
    from rich.text import Text

    cells = [[x if isinstance(x, Text) else Text(str(x)) for x in row] for row in rows]
    natural = [
        max([_width_of(Text(c.header)), *(_width_of(row[i]) for row in cells)])
        for i, c in enumerate(columns)
    ]

    def narrowest(i: int) -> int:
        if columns[i].key or not columns[i].wrap:
            return natural[i]
        return min(natural[i], max(_SHRUNK_MIN, *(len(w) for w in columns[i].header.split())))

    def needed(kept: list[int]) -> int:  # box edges and one space of padding each side
        return 1 + sum(narrowest(i) + 3 for i in kept)

    out = console()
    kept = list(range(len(columns)))
    for i in sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop):
        if needed(kept) <= out.width:
            break
        kept.remove(i)
    if needed(kept) > out.width:
        # Even the names alone are wider than the terminal: print them whole anyway and let
        # the terminal wrap the lines, rather than cut a name the user has to type back.
        out = console(width=needed(kept))
    table = Table(title=title)
    for i in kept:
        c = columns[i]
        if c.key or not c.wrap:
            table.add_column(c.header, no_wrap=True, min_width=natural[i], justify=c.justify)
        else:
            table.add_column(c.header, overflow="fold", justify=c.justify)
    for row in cells:
        table.add_row(*(row[i] for i in kept))
    out.print(table)


def _width_of(cell: Text) -> int:
    """Width of a cell's longest line."""
    from rich.cells import cell_len

    return max((cell_len(line) for line in cell.plain.splitlines()), default=0)


def show_version(
    ref: str,
    show: Callable[[str], Any],
    versions: Callable[[str], list[Any]],
    json_out: bool,
    render: Callable[[Any, list[Any]], None],
) -> None:
    """``show REF`` of a versioned thing: the version, plus its history when REF is a bare
    name (the latest); JSON or rendered for people."""
    with errors_to_exit():
        version = show(ref)
        bare = parse_ref(ref).is_latest
        history = versions(version.name) if bare else []
    if not json_out:
        render(version, history)
        return
    out = version.to_dict()
    if history:
        out["versions"] = [v.to_dict(with_files=False) for v in history]
    emit_json(out)
