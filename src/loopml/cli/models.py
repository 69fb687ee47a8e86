"""``loopml models …``: parse, call the SDK, render. No business rules here."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loopml.cli.output import (
    Column,
    console,
    emit_json,
    errors_to_exit,
    human_bytes,
    print_table,
    show_version,
)

app = typer.Typer(
    help="The model registry: list, show, best version, aliases, pull.",
    no_args_is_help=True,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _client() -> Any:
    from loopml.sdk import default_client

    return default_client()


def _iso(ts: float) -> str:
    from loopml.core.times import iso

    return iso(ts)


def _metrics_text(metrics: dict[str, float], limit: int = 4) -> str:
    items = [f"{k}={v:.4g}" for k, v in sorted(metrics.items())]
    more = f" (+{len(items) - limit})" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List models with their latest version and aliases."""
    with errors_to_exit():
        items = _client().models.list()
    if json_out:
        emit_json([m.to_dict() for m in items])
        return
    if not items:
        console().print("no models yet; register one with loopml.register_model(NAME, model)")
        return
    print_table(
        [
            Column("name", key=True),
            Column("latest", key=True),
            Column("versions", wrap=False, drop=1),
            Column("aliases"),
            Column("updated", wrap=False, drop=2),
        ],
        [
            (
                m.name,
                str(m.latest_version),
                str(m.version_count),
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                _iso(m.updated_at),
            )
            for m in items
        ],
    )


@app.command()
def show(
    ref: Annotated[
        str, typer.Argument(help="NAME (latest and history), NAME@N, NAME/N, NAME@ALIAS.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Show a version: flavor, run, metrics, params, datasets, signature, files."""
    client = _client()  # opens nothing yet: stores open inside show_version's error guard
    show_version(
        ref,
        lambda r: client.models.show(r),
        lambda name: client.models.versions(name),
        json_out,
        _render_version,
    )


def _render_version(v: Any, history: list[Any]) -> None:
    c = console()
    aliases = f"  [cyan]{', '.join(v.aliases)}[/]" if v.aliases else ""
    c.print(f"[bold]{v.ref}[/]  flavor {v.flavor}, {human_bytes(v.total_bytes)}{aliases}")
    c.print(f"created {_iso(v.created_at)} by {v.created_by}; run: {v.run_id or '-'}")
    if v.description:
        c.print(f"description: {v.description}")
    if v.datasets:
        c.print(f"trained on: {', '.join(v.datasets)}")
    for title, values in (("metric", v.metrics), ("param", v.params), ("tag", v.tags)):
        for k, val in sorted(values.items()):
            c.print(f"{title} {k} = {val}")
    if v.signature:
        c.print(f"signature: {_signature_text(v.signature)}")
    print_table(
        [Column("path", key=True), Column("size", wrap=False), Column("digest", drop=1)],
        [(f.path, human_bytes(f.size), f.digest[:16]) for f in v.files],
    )
    if history:
        print_table(
            [
                Column("version", key=True),
                Column("created", wrap=False, drop=2),
                Column("flavor", wrap=False, drop=1),
                Column("aliases"),
                Column("metrics", drop=3),
            ],
            [
                (
                    str(x.version),
                    _iso(x.created_at),
                    x.flavor,
                    ", ".join(x.aliases),
                    _metrics_text(x.metrics),
                )
                for x in history
            ],
            title="history",
        )


def _signature_text(sig: dict[str, Any]) -> str:
    def part(spec: dict[str, Any] | None) -> str:
        if spec is None:
            return "?"
        if spec.get("type") == "tensor":
            shape = ", ".join("*" if n == -1 else str(n) for n in spec.get("shape", []))
            return f"{spec.get('dtype')}[{shape}]"
        return "(" + ", ".join(f"{c['name']}: {c['dtype']}" for c in spec.get("columns", [])) + ")"

    return f"{part(sig.get('inputs'))} → {part(sig.get('outputs'))}"


@app.command()
def best(
    name: Annotated[str, typer.Argument(help="Model name.")],
    metric: Annotated[str, typer.Option("--metric", help="Metric to rank versions by.")],
    mode: Annotated[str, typer.Option("--mode", help="max (higher is better) or min.")] = "max",
    json_out: JsonOpt = False,
) -> None:
    """Show the version of NAME with the best value of a metric."""
    with errors_to_exit():
        v = _client().models.best_version(name, metric, mode)
    if json_out:
        emit_json(v.to_dict(with_files=False))
        return
    console().print(f"{v.ref}: {metric} = {v.metrics[metric]:.6g} ({mode})")


@app.command()
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version number the alias should point at.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. production, staging.")],
    json_out: JsonOpt = False,
) -> None:
    """Point NAME@ALIAS at VERSION (moving the alias if it exists)."""
    with errors_to_exit():
        change = _client().models.set_alias(name, alias_name, version)
    if json_out:
        emit_json(change.to_dict())
        return
    if not change.changed:
        console().print(f"{name}@{alias_name} already points at version {change.version}")
    elif change.previous_version is None:
        console().print(f"{name}@{alias_name} → version {change.version}")
    else:
        console().print(
            f"{name}@{alias_name} moved: version {change.previous_version} → {change.version}"
        )


@app.command()
def pull(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@N, NAME/N or NAME@ALIAS.")],
    dest: Annotated[str, typer.Argument(help="Destination folder (new or empty).")],
    json_out: JsonOpt = False,
) -> None:
    """Write the artifact files of a version into DEST, every byte verified."""
    with errors_to_exit():
        client = _client()
        version = client.models.show(ref)
        out = client.models.pull(version.ref, dest)
    if json_out:
        emit_json(
            {
                "ref": version.ref,
                "path": str(out),
                "files": [f.path for f in version.files],
                "bytes": version.total_bytes,
            }
        )
        return
    console().print(f"pulled {version.ref} to {out} ({human_bytes(version.total_bytes)})")
