"""``loopml token create|list|revoke``: bearer tokens for ``loopml server --auth``. On the
store directly (LOOPML_DB), so the first admin token exists before the server starts; with
LOOPML_URI set, through the server (an admin's LOOPML_TOKEN)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from loopml.cli.output import Column, console, emit_json, errors_to_exit, print_table

app = typer.Typer(
    help="Bearer tokens for loopml server --auth: create, list, revoke.",
    no_args_is_help=True,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _access() -> Any:
    from loopml.sdk import default_client

    return default_client().services.access


def _when(t: float | None) -> str:
    from loopml.core.times import iso_ms

    return "" if t is None else str(iso_ms(t))


@app.command()
def create(
    role: Annotated[
        str, typer.Option("--role", help="reader (reads), writer (also writes) or admin.")
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="The token's name (default: ROLE-xxxxxx).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a token and print it: this is the only time it is shown (the store keeps a hash)."""
    with errors_to_exit():
        made = _access().create(role, name)
    if json_out:
        emit_json({"token": made.token, "role": made.role.value, "name": made.name})
        return
    sys.stdout.write(made.token + "\n")
    sys.stderr.write(
        f"token {made.name!r} ({made.role.value}) made; it is shown only this once. "
        "Clients use it with: export LOOPML_TOKEN=<the token above>\n"
    )


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List the tokens (names, roles, who made them, when revoked; never the tokens)."""
    with errors_to_exit():
        found = _access().list()
    if json_out:
        emit_json(
            [
                {
                    "name": t.name,
                    "role": t.role.value,
                    "created_at": t.created_at,
                    "created_by": t.created_by,
                    "revoked_at": t.revoked_at,
                }
                for t in found
            ]
        )
        return
    if not found:
        console().print("no tokens yet; make one with: loopml token create --role admin")
        return
    print_table(
        [
            Column("name", key=True),
            Column("role", wrap=False),
            Column("created", wrap=False),
            Column("by"),
            Column("revoked", wrap=False),
        ],
        [
            (t.name, t.role.value, _when(t.created_at), t.created_by, _when(t.revoked_at))
            for t in found
        ],
    )


@app.command()
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    json_out: JsonOpt = False,
) -> None:
    """Revoke a token: the server refuses it from its next request on."""
    with errors_to_exit():
        info = _access().revoke(name)
    if json_out:
        emit_json({"name": info.name, "role": info.role.value, "revoked_at": info.revoked_at})
    else:
        console().print(f"revoked token [bold]{info.name}[/] ({info.role.value})")
