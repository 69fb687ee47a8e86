"""``loopml pipeline …``: parse, call the SDK, render. No business rules here."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from loopml.cli.output import Column, console, emit_json, errors_to_exit, print_table

app = typer.Typer(
    help="Training pipelines: run, list, show, resume.", no_args_is_help=True, add_completion=False
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ExecutorOpt = Annotated[
    str | None, typer.Option("--executor", help="Where steps run: local or ray.")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, help="Parallel local worker processes.")
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="HOST:PORT of a running Ray head, as `ray start --head` printed it (--executor "
        "ray; default $RAY_ADDRESS). Fails within seconds if no head answers there.",
    ),
]

_MARK = {
    "succeeded": "[green]✓[/]",
    "cached": "[cyan]≡[/]",
    "failed": "[red]✗[/]",
    "skipped": "[yellow]-[/]",
    "running": "[blue]…[/]",
    "pending": "[dim]·[/]",
}


def _client() -> Any:
    from loopml.sdk import default_client

    return default_client()


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.console import Console

    err = Console(stderr=True, highlight=False)

    def show(step: str, status: Any, message: str) -> None:
        if status.value == "running":
            return
        err.print(f"  {_MARK.get(status.value, '?')} {step} [dim]{status.value}[/] {message}")

    return show


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} s"


def render_run(run: Any, logs: bool = False) -> None:
    """The DAG of a run, one step a line in topological order, with status and time."""
    c = console()
    color = {"succeeded": "green", "failed": "red"}.get(run.status.value, "blue")
    c.print(
        f"pipeline [bold]{run.pipeline}[/]  run {run.id}  [{color}]{run.status.value}[/]  "
        f"{_seconds(run.elapsed)}  executor {run.executor}"
    )
    c.print(f"source {run.source}")
    if run.params:
        c.print("params " + ", ".join(f"{k}={v!r}" for k, v in run.params.items()))
    if run.resumed_from:
        c.print(f"resumed from run {run.resumed_from}")
    for note in run.options.get("notes") or []:
        c.print(f"[yellow]note:[/] {note}")
    width = max((len(s.name) for s in run.steps), default=4)
    for s in run.steps:
        line = f"  {_MARK.get(s.status.value, '?')} {s.name.ljust(width)}  {s.status.value:<9}"
        line += f" {_seconds(s.elapsed):>9}"
        if s.upstream:
            line += f"  [dim]← {', '.join(s.upstream)}[/]"
        if s.cached_from:
            line += f"  [cyan](from run {s.cached_from[:12]})[/]"
        c.print(line)
        if s.decision is not None:
            verdict = "go" if s.decision.get("go") else "stop"
            c.print(f"      decision: {verdict}: {s.decision.get('reason')}")
        if s.status.value == "skipped" and s.error:
            c.print(f"      [yellow]{s.error}[/]")
        elif s.error:
            lines = s.error.strip().splitlines()
            shown = lines if logs else lines[-1:]
            for ln in shown:
                c.print(f"      [red]{ln}[/]", markup=True, highlight=False)
        if s.metrics:
            c.print("      metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in s.metrics.items()))
        if logs:
            for label, text in (("stdout", s.stdout), ("stderr", s.stderr)):
                if text:
                    c.print(f"      [dim]{label}:[/]")
                    for ln in text.rstrip().splitlines():
                        c.print(f"        {ln}", markup=False)
    if run.error and run.status.value == "failed":
        c.print(f"[red]failed:[/] {run.error}", markup=True)


def _finish(run: Any, json_out: bool) -> None:
    if json_out:
        emit_json(run.to_dict())
    else:
        render_run(run)
    if run.status.value != "succeeded":
        raise typer.Exit(1)


@app.command()
def run(
    source: Annotated[str, typer.Argument(help="FILE.py:FUNCTION or module:FUNCTION.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE, repeatable.")
    ] = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step.")] = False,
    ray_address: RayOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a pipeline; exits 1 if any step failed."""
    from loopml.pipelines.params import parse_assignments

    with errors_to_exit():
        params = parse_assignments(param or [])
        result = _client().pipelines.run(
            source,
            params,
            executor=executor or "local",
            workers=workers,
            no_cache=no_cache,
            ray_address=ray_address,
            progress=_progress(not json_out and sys.stderr.isatty()),
        )
    _finish(result, json_out)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="A failed run's id (or a unique prefix).")],
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    ray_address: RayOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a failed run again from its failure, reusing the steps that succeeded."""
    with errors_to_exit():
        result = _client().pipelines.resume(
            run_id,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            progress=_progress(not json_out and sys.stderr.isatty()),
        )
    _finish(result, json_out)


@app.command("list")
def list_(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """List pipeline runs, newest first."""
    with errors_to_exit():
        runs = _client().pipelines.list_runs(pipeline, limit)
    if json_out:
        emit_json([r.to_dict(with_steps=False) for r in runs])
        return
    if not runs:
        console().print("no pipeline runs yet; start one with: loopml pipeline run FILE.py:FUNC")
        return
    from loopml.core.times import iso_ms as iso

    print_table(
        [
            Column("run", key=True),
            Column("pipeline", key=True),
            Column("status", wrap=False),
            Column("steps", drop=1),
            Column("started", wrap=False, drop=3),
            Column("time", wrap=False, drop=2),
        ],
        [
            (
                r.id[:12],
                r.pipeline,
                r.status.value,
                ", ".join(f"{n} {k}" for k, n in sorted(r.counts().items())),
                iso(r.start_time) or "",
                _seconds(r.elapsed),
            )
            for r in runs
        ],
    )


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="A run id (or a unique prefix).")],
    logs: Annotated[bool, typer.Option("--logs", help="Print stdout, stderr, tracebacks.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show a run's DAG: each step with its status, time, cache origin and error."""
    with errors_to_exit():
        result = _client().pipelines.get_run(run_id)
    if json_out:
        emit_json(result.to_dict(with_logs=logs))
        return
    render_run(result, logs=logs)
