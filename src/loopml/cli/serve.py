"""``loopml serve REF``: parse, build the endpoint, run it. No business rules here."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from loopml.cli.output import errors_to_exit


def serve(
    ref: Annotated[
        str, typer.Argument(help="What to serve: NAME@ALIAS (follows the alias), NAME@N, NAME.")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
    max_batch_size: Annotated[
        int, typer.Option(help="Most rows in one predict call (micro-batching).")
    ] = 256,
    max_latency_ms: Annotated[
        float, typer.Option(help="Longest wait for a batch to fill, only while under load.")
    ] = 5.0,
    log_sample_rate: Annotated[
        float, typer.Option(help="Share of requests whose inputs and outputs are logged (0-1).")
    ] = 1.0,
    log_dir: Annotated[
        str | None,
        typer.Option(
            help="Where prediction logs go: a folder or s3:// prefix (default: where monitors "
            "read, $LOOPML_HOME/monitoring or beside an S3 blob store)."
        ),
    ] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted.")] = 8
    * 1024
    * 1024,
    allow_nan: Annotated[
        bool | None,
        typer.Option(
            "--allow-nan/--no-allow-nan",
            help="Accept missing values (default: what the model declares).",
        ),
    ] = None,
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow loading a pickled (python flavor) model.")
    ] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help="A Host name to answer besides localhost, 127.0.0.1 and [::1] (repeatable). "
            "Bound to a non-loopback address, Host is checked only when this is given.",
        ),
    ] = None,
) -> None:
    """Serve a model version over HTTP: /predict, the v2 inference protocol, /metrics, /feedback."""
    from loopml.sdk import default_client
    from loopml.serving import ServeConfig
    from loopml.serving.server import check_listen
    from loopml.serving.server import serve as run_server

    with errors_to_exit():
        config = ServeConfig(
            ref=ref,
            host=host,
            port=port,
            workers=workers,
            max_batch_size=max_batch_size,
            max_latency_ms=max_latency_ms,
            log_sample_rate=log_sample_rate,
            log_dir=log_dir,
            max_body_bytes=max_body_bytes,
            allow_nan=allow_nan,
            trusted=trusted,
            access_log=access_log,
            allowed_hosts=tuple(allowed_host or ()),
        )
        check_listen(host, port)  # before the model loads: a taken port fails at once
        services = default_client().services
        app = None
        if workers == 1:
            from loopml.serving.app import ServingApp

            app = ServingApp(config, services)
            served = app.prepare()
            what = f"{served.name} version {served.version}"
        else:  # each worker loads the model; check the reference resolves before starting them
            what = f"{default_client().models.show(ref).ref} in each worker"
        sys.stderr.write(
            f"loopml: serving {what} ({ref}) on http://{host}:{port} "
            f"with {workers} worker(s); Ctrl+C to stop\n"
        )
        sys.stderr.flush()
        run_server(config, services, app)
