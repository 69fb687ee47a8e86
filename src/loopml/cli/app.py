"""The ``loopml`` command: a root Typer app that mounts one sub-app per block."""

from __future__ import annotations

import contextlib
import gc as collector
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from loopml.api.protocols import Maintenance

from loopml.cli import datasets, deploy, models, monitor, pipeline, runs, serve, token
from loopml.cli import server as server_cli
from loopml.cli import trigger as triggers_cli
from loopml.cli import ui as ui_cli
from loopml.cli.output import console, emit_json, errors_to_exit, fail, human_bytes
from loopml.core.errors import LoopError

app = typer.Typer(
    name="loopml",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(pipeline.app, name="pipeline")
app.command("deploy")(deploy.deploy)
app.command("rollback")(deploy.rollback)
app.add_typer(deploy.app, name="deployments")
app.command("serve")(serve.serve)
app.command("server")(server_cli.server)
app.command("ui")(ui_cli.ui)
app.add_typer(monitor.app, name="monitor")
# triggers (block 5)
app.add_typer(triggers_cli.app, name="trigger")
app.add_typer(triggers_cli.jobs_app, name="jobs")
app.command("controller")(triggers_cli.controller)
app.command("worker")(triggers_cli.worker)
app.add_typer(token.app, name="token")
_SUB_APPS = {
    "datasets": datasets.app,
    "models": models.app,
    "runs": runs.app,
    "pipeline": pipeline.app,
    "deployments": deploy.app,
    "monitor": monitor.app,
    "trigger": triggers_cli.app,
    "jobs": triggers_cli.jobs_app,
    "token": token.app,
}

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _print_version(value: bool) -> None:
    if value:
        from loopml import __version__

        sys.stdout.write(f"loopml {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """loopml: versioned datasets, experiment tracking, a model registry, training pipelines,
    deployments behind a gate, a serving endpoint and monitors of its traffic, in one local
    store (SQLite and files under $LOOPML_HOME, or PostgreSQL and S3)."""


def _maintenance() -> Maintenance:
    from loopml.sdk import default_client

    return default_client().maintenance


@app.command()
def fsck(json_out: JsonOpt = False) -> None:
    """Verify every stored chunk against its digest and every reference against the index."""
    with errors_to_exit():
        report = _maintenance().fsck()
    if json_out:
        emit_json(report.to_dict())
    else:
        c = console()
        c.print(
            f"checked {report.packs} pack(s), {report.chunks} chunk(s), "
            f"{human_bytes(report.bytes)}, {report.files} file(s); "
            f"{report.orphan_objects} orphan object(s) and {report.leftover_files} temporary "
            f"file(s) of running or interrupted writes, {human_bytes(report.leftover_bytes)} "
            "(loopml gc removes orphans and leftovers past its grace period)"
        )
        for p in report.problems:
            c.print(f"[red]problem:[/] {p}")
        c.print("[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, delete nothing.")] = False,
    grace: Annotated[
        float,
        typer.Option(
            help="Keep unindexed packs and temporary files younger than this many seconds."
        ),
    ] = 3600.0,
    json_out: JsonOpt = False,
) -> None:
    """End dead runs as lost (as ``loopml runs reap``), then remove stored data that no
    version references and repack mostly-dead packs."""

    def waiting() -> None:
        sys.stderr.write("gc: waiting for running pushes (or another gc) to finish...\n")

    with errors_to_exit():
        maintenance = _maintenance()
        lost, pipelines = (
            ([], []) if dry_run else (maintenance.reap_runs(), maintenance.reap_pipelines())
        )
        report = maintenance.gc(grace_s=grace, dry_run=dry_run, on_wait=waiting)
    if json_out:
        emit_json(
            report.to_dict() | {"runs_lost": [r.id for r in lost], "pipelines_failed": pipelines}
        )
        return
    if lost or pipelines:
        console().print(
            f"ended {len(lost)} dead run(s) as lost, failed {len(pipelines)} pipeline run(s)"
        )
    console().print(
        f"{'would free' if dry_run else 'freed'} {human_bytes(report.bytes_freed)}: "
        f"{report.files_removed} file(s), {report.packs_deleted} pack(s) deleted, "
        f"{report.packs_repacked} repacked, {report.orphans_deleted} orphan(s), "
        f"{report.leftovers_deleted} leftover temporary file(s)"
    )


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 7,
    json_out: JsonOpt = False,
) -> None:
    """Run datasets, tracking, registry, a training pipeline, a gated deployment and the
    endpoint on generated data, in the store LOOPML_HOME points at."""
    from loopml.demo.run import run_demo

    with errors_to_exit():
        summary = run_demo(human_bytes, seed=seed, quiet=json_out, render_diff=datasets.render_diff)
    if json_out:
        emit_json(summary)


def main() -> None:
    """Console entry point: a LoopError ends with its message and exit 1; a bug is reported
    in one line (the traceback only with LOOPML_DEBUG=1)."""
    try:
        with _reported():
            _dispatch()
    finally:
        with _reported():
            _wind_up()


def _dispatch() -> None:
    group = _SUB_APPS.get(sys.argv[1]) if len(sys.argv) > 1 else None
    if group is None:
        app()
    else:
        # Build only the invoked group's commands: turning every command of every block
        # into click objects is a good part of a short call's start-up.
        command = typer.main.get_command(group)
        command(args=sys.argv[2:], prog_name=f"loopml {sys.argv[1]}")


def _wind_up() -> None:
    """The end of a ``loopml`` process: close the stores its command opened (committing what
    they buffered), then hand every object to the collector's permanent generation, so the
    interpreter's teardown frees them without walking them all again (that walk took 0.1 s
    and more after a push of a GiB)."""
    try:
        sdk = sys.modules.get("loopml.sdk")
        if sdk is not None:
            sdk.close_default_clients()
    finally:
        collector.freeze()


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except LoopError as exc:
        sys.exit(fail(str(exc)).exit_code)  # outside click: its Exit is not caught here
    except Exception as exc:
        if os.environ.get("LOOPML_DEBUG"):
            raise
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "this is a bug in loopml; rerun with LOOPML_DEBUG=1 for the traceback\n"
        )
        sys.exit(1)
