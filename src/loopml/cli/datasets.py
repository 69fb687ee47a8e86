"""``loopml datasets …``: parse, call the SDK, render. No business rules here."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from loopml.cli.output import (
    Column,
    byte_progress,
    console,
    emit_json,
    errors_to_exit,
    fail,
    human_bytes,
    print_table,
    show_version,
)
from loopml.core.times import iso

app = typer.Typer(
    help="Versioned datasets: push, pull, list, show, diff.",
    no_args_is_help=True,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _client() -> Any:
    from loopml.sdk import default_client

    return default_client()


def _unchanged(name: str, path: Path) -> Any:
    """The answer to a push of unchanged data, from the hash cache and one read, before the
    stores (and SQLAlchemy) load; None when the regular push must decide."""
    from loopml.core.settings import load_settings
    from loopml.datasets.quick import unchanged_push

    return unchanged_push(load_settings(), name, path)


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _d, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(dirpath, f)).st_size
    return total


def _parse_meta(items: list[str]) -> dict[str, str]:
    meta = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--meta {item!r} is not KEY=VALUE; write e.g. --meta source=crm")
        meta[key] = value
    return meta


@app.command()
def push(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    path: Annotated[Path, typer.Argument(help="A file or a folder.")],
    message: Annotated[str | None, typer.Option("--message", "-m", help="What changed.")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE, repeatable.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Store PATH as the next version of NAME (identical content creates no new version)."""
    user_meta = _parse_meta(meta or [])
    with errors_to_exit():
        result = _unchanged(name, path)
        if result is None:
            # The bar needs the total up front; skip that walk when no bar can show.
            shows_bar = not json_out and sys.stderr.isatty() and path.exists()
            total = _size_of(path) if shows_bar else 0
            with byte_progress(total, f"push {name}", enabled=not json_out) as advance:
                result = _client().datasets.push(name, path, message, user_meta, advance)
    if json_out:
        emit_json(result.to_dict())
        return
    v = result.version
    if result.created:
        console().print(
            f"[green]created[/] {v.ref}: {v.file_count} file(s), {human_bytes(v.total_bytes)}, "
            f"{human_bytes(result.bytes_new)} new in the store ({result.seconds:.2f} s)"
        )
    else:
        console().print(f"unchanged: content is identical to {v.ref}; no new version created")


@app.command()
def pull(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@N or NAME/N.")],
    # a str, not a Path: a trailing "/" (a folder to pull into) must reach the SDK intact
    dest: Annotated[
        str,
        typer.Argument(
            help="Where to write: a new or empty folder for a folder version; for a single "
            "file a file path, or a folder (ending in / or existing) to put it in."
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Write a dataset version to DEST, every byte verified."""
    with errors_to_exit():
        client = _client()
        version = client.datasets.show(ref)
        with byte_progress(version.total_bytes, f"pull {version.ref}", not json_out) as advance:
            out = client.datasets.pull(ref, dest, progress=advance)
    if json_out:
        emit_json(
            {
                "ref": version.ref,
                "path": str(out),
                "files": version.file_count,
                "bytes": version.total_bytes,
            }
        )
    else:
        console().print(f"pulled {version.ref} to {out} ({human_bytes(version.total_bytes)})")


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List datasets with their latest version."""
    with errors_to_exit():
        items = _client().datasets.list()
    if json_out:
        emit_json([d.to_dict() for d in items])
        return
    if not items:
        console().print("no datasets yet; push one with: loopml datasets push NAME PATH")
        return
    print_table(
        [
            Column("name", key=True),
            Column("latest", key=True),
            Column("versions", wrap=False, drop=2),
            Column("size", wrap=False, drop=1),
            Column("updated", wrap=False, drop=3),
        ],
        [
            (
                d.name,
                str(d.latest_version),
                str(d.version_count),
                human_bytes(d.total_bytes),
                iso(d.updated_at),
            )
            for d in items
        ],
    )


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME (latest and history), NAME@N or NAME/N.")],
    json_out: JsonOpt = False,
) -> None:
    """Show a version: metadata, files, schema and column statistics."""
    client = _client()  # opens nothing yet: stores open inside show_version's error guard
    show_version(
        ref,
        lambda r: client.datasets.show(r),
        lambda name: client.datasets.versions(name),
        json_out,
        _render_version,
    )


def _render_version(v: Any, history: list[Any]) -> None:
    c = console()
    c.print(f"[bold]{v.ref}[/]  {v.kind}, {v.file_count} file(s), {human_bytes(v.total_bytes)}")
    c.print(
        f"created {iso(v.created_at)} by {v.created_by}; parent: "
        f"{v.parent_version if v.parent_version else '-'}"
    )
    if v.message:
        c.print(f"message: {v.message}")
    for k, val in v.meta.items():
        c.print(f"meta {k} = {val}")
    print_table(
        [Column("path", key=True), Column("size", wrap=False), Column("digest", drop=1)],
        [(f.path, human_bytes(f.size), f.digest[:16]) for f in v.files[:50]],
    )
    if len(v.files) > 50:
        c.print(f"… and {len(v.files) - 50} more files (--json lists all)")
    if "skipped" in v.stats:
        c.print(f"no statistics: {v.stats['skipped']}")
    for path, st in v.stats.get("tables", {}).items():
        if "error" in st:
            c.print(
                f"[yellow]{path}: no statistics, the file does not parse as a table: {st['error']}[/]"
            )
            continue
        rows = []
        for col in st.get("columns", []):
            top = ", ".join(f"{val}×{n}" for val, n in (col.get("top") or [])[:3])
            rows.append(
                tuple(
                    str(x) if x is not None else ""
                    for x in (
                        col["name"],
                        col.get("dtype"),
                        col.get("nulls"),
                        col.get("min"),
                        col.get("max"),
                        _fmt(col.get("mean")),
                        col.get("distinct"),
                        top,
                    )
                )
            )
        print_table(
            [
                Column("column", key=True),
                Column("dtype", wrap=False),
                Column("nulls", wrap=False, drop=3),
                Column("min", drop=2),
                Column("max", drop=2),
                Column("mean", drop=4),
                Column("distinct", wrap=False, drop=5),
                Column("top", drop=6),
            ],
            rows,
            title=f"{path}: {st.get('rows')} rows",
        )
    if history:
        print_table(
            [
                Column("version", key=True),
                Column("created", wrap=False, drop=2),
                Column("files", wrap=False, drop=1),
                Column("size", wrap=False, drop=3),
                Column("message"),
            ],
            [
                (
                    str(x.version),
                    iso(x.created_at),
                    str(x.file_count),
                    human_bytes(x.total_bytes),
                    x.message or "",
                )
                for x in history
            ],
            title="history",
        )


def _fmt(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else ("" if x is None else str(x))


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="Older version, e.g. churn@1.")],
    b: Annotated[str, typer.Argument(help="Newer version, e.g. churn@2.")],
    json_out: JsonOpt = False,
) -> None:
    """Compare two versions: files, schema, row counts and column statistics."""
    with errors_to_exit():
        d = _client().datasets.diff(a, b)
    if json_out:
        emit_json(d)
        return
    render_diff(d)


def render_diff(d: dict[str, Any]) -> None:
    c = console()
    c.print(f"[bold]{d['from']} → {d['to']}[/]" + ("  (identical)" if d["identical"] else ""))
    for f in d["files_added"]:
        c.print(f"[green]+ {f['path']}[/] ({human_bytes(f['size'])})")
    for f in d["files_removed"]:
        c.print(f"[red]- {f['path']}[/] ({human_bytes(f['size'])})")
    for f in d["files_changed"]:
        c.print(
            f"[yellow]~ {f['path']}[/] ({human_bytes(f['old_size'])} → {human_bytes(f['new_size'])})"
        )
    for path, t in d["tables"].items():
        rows = t.get("rows") or {}
        c.print(f"table {path}: rows {rows.get('old')} → {rows.get('new')}")
        for col in t.get("columns_added", []):
            c.print(f"  [green]+ column {col}[/]")
        for col in t.get("columns_removed", []):
            c.print(f"  [red]- column {col}[/]")
        for ch in t.get("dtype_changes", []):
            c.print(f"  dtype {ch['column']}: {ch['old']} → {ch['new']}")
        for ch in t.get("column_changes", []):
            c.print(f"  {ch['column']}.{ch['stat']}: {_fmt(ch['old'])} → {_fmt(ch['new'])}")
    for note in d.get("notes", []):
        c.print(note)
