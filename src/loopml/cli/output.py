"""Rendering for people (rich) and for machines (``--json``), and the one error translator."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from loopml.core.errors import LoopError
from loopml.core.refs import parse_ref


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


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
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


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
