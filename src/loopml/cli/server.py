"""``loopml server``: parse, then hand over to :mod:`loopml.server.run` (imported only here,
so FastAPI stays out of every other command's import path)."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli.output import errors_to_exit


def server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    db: Annotated[
        str | None, typer.Option(help="Metadata database URL (default: LOOPML_DB).")
    ] = None,
    blobs: Annotated[
        str | None, typer.Option(help="Blob store URL (default: LOOPML_BLOBS).")
    ] = None,
    auth: Annotated[bool, typer.Option("--auth", help="Require bearer tokens.")] = False,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow a non-loopback --host without --auth."),
    ] = False,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    no_controller: Annotated[
        bool,
        typer.Option("--no-controller", help="Do not run a trigger controller and worker inside."),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host", metavar="NAME", help="A Host name to answer besides loopback."
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
) -> None:
    """Serve every service of the store over HTTP under /api/v1 (docs at /docs)."""
    from loopml.core.settings import load_settings
    from loopml.server.run import ServerOptions, serve
    from loopml.serving.hosts import normalize_allowed

    with errors_to_exit():
        if workers < 1:
            from loopml.core.errors import InvalidInput

            raise InvalidInput(f"--workers must be 1 or more, got {workers}")
        settings = load_settings(None, db=db, blobs=blobs)
        options = ServerOptions(
            host=host,
            port=port,
            auth=auth,
            insecure=insecure,
            workers=workers,
            controller=not no_controller,
            allowed_hosts=tuple(normalize_allowed(h) for h in allowed_host or ()),
            access_log=access_log,
        )
        serve(settings, options)
