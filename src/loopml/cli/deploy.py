"""``loopml deploy NAME …``, ``loopml deploy history NAME`` and ``loopml rollback NAME``:
parse, call the deployment service, render. No business rules here."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from loopml.cli.output import console, emit_json, errors_to_exit, fail

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ToOpt = Annotated[str, typer.Option("--to", help="The alias to deploy to.")]


class _DeployGroup(TyperGroup):
    """``loopml deploy NAME …`` runs the hidden ``run`` command; ``history`` is a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return list(super().parse_args(ctx, args))


app = typer.Typer(
    cls=_DeployGroup,
    help=(
        "Deploy a model version to an alias behind a gate: loopml deploy NAME "
        "(--select best:METRIC[:min|max] | --version N | --alias A) [--gate EXPR] [--to ALIAS]"
    ),
    no_args_is_help=True,
)


def _service() -> Any:
    from loopml.sdk import default_client

    return default_client().deployments


@app.command("run", hidden=True)
def run(
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
    """Deploy a version of NAME to NAME@production (or --to ALIAS) if the gate passes."""
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
    """List the deployments of NAME, newest first."""
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
    from rich.table import Table

    table = Table("id", "when", "action", "target", "version", "previous", "status", "by", "reason")
    for r in records:
        d = r.to_dict()
        table.add_row(
            str(r.id),
            d["created_at"],
            d["action"],
            d["target"],
            str(r.version),
            "-" if r.previous_version is None else str(r.previous_version),
            d["status"],
            r.created_by,
            r.reason or "",
        )
    console().print(table)


def rollback(
    name: Annotated[str, typer.Argument(help="The model.")],
    to: ToOpt = "production",
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
