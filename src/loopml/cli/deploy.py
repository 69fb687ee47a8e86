"""``loopml deploy NAME …``, ``loopml rollback NAME`` and ``loopml deployments history NAME``:
parse, call the deployment service, render. No business rules here.

``deploy`` and ``rollback`` are commands of their own (not groups), so a model may be named
anything, ``history`` included: command words and model names never share a position."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loopml.cli.output import Column, console, emit_json, errors_to_exit, fail, print_table

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ToOpt = Annotated[str, typer.Option("--to", help="The alias to deploy to.")]

app = typer.Typer(
    help="The record of deployments: every deploy and rollback, with its gate result.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """The record of deployments: loopml deployments history NAME."""


def _service() -> Any:
    from loopml.sdk import default_client

    return default_client().deployments


def deploy(
    name: Annotated[str, typer.Argument(help="The model to deploy.")],
    select: Annotated[
        str | None, typer.Option(help="best:METRIC[:min|max]: the best version by a metric.")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Deploy this version number.")] = None,
    alias: Annotated[
        str | None, typer.Option(help="Deploy the version another alias points at.")
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option(help='Condition to pass, e.g. "accuracy >= production" or "auc > 0.8".'),
    ] = None,
    to: ToOpt = "production",
    json_out: JsonOpt = False,
) -> None:
    """Deploy a version of NAME to NAME@production (or --to ALIAS) if the gate passes.

    Pick the version with one of --select best:METRIC[:min|max], --version N or --alias A."""
    with errors_to_exit():
        record = _service().deploy(
            name, select=select, version=version, alias=alias, gate=gate, to=to
        )
    if json_out:
        emit_json(record.to_dict())
    else:
        _render(record)
    if record.status.value == "refused":
        raise fail(f"not deployed: {record.reason}")


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="The model.")],
    to: Annotated[str | None, typer.Option("--to", help="Only this alias.")] = None,
    limit: Annotated[int, typer.Option(help="Most records to show.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """List the deployments and rollbacks of NAME, newest first."""
    with errors_to_exit():
        records = _service().history(name, to=to, limit=limit)
    if json_out:
        emit_json([r.to_dict() for r in records])
        return
    if not records:
        console().print(
            f"no deployments of {name!r} yet; deploy with: loopml deploy {name} --version N"
        )
        return
    print_table(
        [
            Column("id", key=True),
            Column("when", wrap=False, drop=3),
            Column("action", wrap=False),
            Column("target", key=True),
            Column("version", key=True),
            Column("previous", wrap=False),
            Column("status", wrap=False),
            Column("by", drop=2),
            Column("reason", drop=1),
        ],
        [_history_row(r) for r in records],
    )


def _history_row(r: Any) -> tuple[str, ...]:
    d = r.to_dict()
    previous = "-" if r.previous_version is None else str(r.previous_version)
    return (
        str(r.id),
        d["created_at"],
        d["action"],
        d["target"],
        str(r.version),
        previous,
        d["status"],
        r.created_by,
        r.reason or "",
    )


def rollback(
    name: Annotated[str, typer.Argument(help="The model.")],
    to: Annotated[str, typer.Option("--to", help="The alias to move back.")] = "production",
    json_out: JsonOpt = False,
) -> None:
    """Move NAME@production (or --to ALIAS) back to the version before its last deployment."""
    with errors_to_exit():
        record = _service().rollback(name, to=to)
    if json_out:
        emit_json(record.to_dict())
        return
    console().print(
        f"rolled back {record.model}@{record.alias}: version {record.previous_version} → "
        f"{record.version} (deployment {record.id})"
    )


def _render(record: Any) -> None:
    c = console()
    target = f"{record.model}@{record.alias}"
    status = record.status.value
    if status == "deployed":
        before = (
            "nothing" if record.previous_version is None else f"version {record.previous_version}"
        )
        c.print(
            f"[green]deployed[/] {target}: {before} → version {record.version} (deployment {record.id})"
        )
    elif status == "unchanged":
        c.print(
            f"{target} already is version {record.version}; nothing to do (deployment {record.id})"
        )
    else:
        c.print(f"[red]refused[/] version {record.version} for {target} (deployment {record.id})")
    if record.gate_result is not None and record.gate is not None:
        for check in record.gate_result.checks:
            mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
            c.print(f"  {mark} {check.reason}")
