"""The ``loopml`` command: a root Typer app that mounts one sub-app per block."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from loopml.stores import Stores

from loopml.cli import datasets, deploy, models, pipeline, runs, serve
from loopml.cli.output import console, emit_json, errors_to_exit, human_bytes

app = typer.Typer(
    name="loopml",
    help="loopml: datasets, experiments, models, pipelines, triggers, serving and monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(models.app, name="models")
app.add_typer(runs.app, name="runs")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(deploy.app, name="deploy")
app.command("serve")(serve.serve)
_SUB_APPS = {
    "datasets": datasets.app,
    "models": models.app,
    "runs": runs.app,
    "pipeline": pipeline.app,
    "deploy": deploy.app,
}
app.command("rollback")(deploy.rollback)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _stores() -> Stores:
    from loopml.sdk import default_client

    return default_client().stores


@app.command()
def fsck(json_out: JsonOpt = False) -> None:
    """Verify every stored chunk against its digest and every reference against the index."""
    from loopml.blobs.fsck import fsck as run_fsck

    with errors_to_exit():
        report = run_fsck(_stores().blobs)
    if json_out:
        emit_json(report.to_dict())
    else:
        c = console()
        c.print(
            f"checked {report.packs} pack(s), {report.chunks} chunk(s), "
            f"{human_bytes(report.bytes)}, {report.files} file(s); "
            f"{report.orphan_objects} orphan object(s) (removed by loopml gc)"
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
        float, typer.Option(help="Keep unindexed packs younger than this many seconds.")
    ] = 3600.0,
    json_out: JsonOpt = False,
) -> None:
    """End dead runs as lost (as ``loopml runs reap``), then remove stored data that no
    version references and repack mostly-dead packs."""
    from loopml.blobs.gc import gc as run_gc

    def waiting() -> None:
        sys.stderr.write("gc: waiting for running pushes (or another gc) to finish...\n")

    with errors_to_exit():
        lost, pipelines = ([], []) if dry_run else runs.reap_dead()
        report = run_gc(_stores().blobs, grace_s=grace, dry_run=dry_run, on_wait=waiting)
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
        f"{report.packs_repacked} repacked, {report.orphans_deleted} orphan(s)"
    )


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 7,
    json_out: JsonOpt = False,
) -> None:
    """Run the closed loop on generated data in the embedded store."""
    from loopml.demo.run import run_demo

    with errors_to_exit():
        summary = run_demo(seed=seed, quiet=json_out, render_diff=datasets.render_diff)
    if json_out:
        emit_json(summary)


def main() -> None:
    """Console entry point: a LoopError ends with its message and exit 1; a bug is reported
    in one line (the traceback only with LOOPML_DEBUG=1)."""
    try:
        group = _SUB_APPS.get(sys.argv[1]) if len(sys.argv) > 1 else None
        if group is None:
            app()
        else:
            # Build only the invoked group's commands: turning every command of every block
            # into click objects is a good part of a short call's start-up.
            command = typer.main.get_command(group)
            command(args=sys.argv[2:], prog_name=f"loopml {sys.argv[1]}")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("LOOPML_DEBUG"):
            raise
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "this is a bug in loopml; rerun with LOOPML_DEBUG=1 for the traceback\n"
        )
        sys.exit(1)
