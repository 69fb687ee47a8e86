"""``loopml runs …``: parse, call the SDK, render. No business rules here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli.output import (
    Column,
    console,
    emit_json,
    errors_to_exit,
    fail,
    human_bytes,
    print_table,
)
from loopml.core.times import iso_ms as iso

if TYPE_CHECKING:
    from loopml.api.runs import Run

app = typer.Typer(
    help="Experiment runs: list, show, compare, reap.", no_args_is_help=True, add_completion=False
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
_MAX_METRIC_COLUMNS = 6
_STATUS_STYLE = {
    "running": "cyan",
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "lost": "magenta",
}


def _tracking() -> Any:
    from loopml.sdk import default_client

    return default_client().tracking


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


def _status(run: Run) -> str:
    return f"[{_STATUS_STYLE.get(run.status.value, 'white')}]{run.status.value}[/]"


def _when(ts: float | None) -> str:
    text = iso(ts)
    return "-" if text is None else text[:16].replace("T", " ")


def _metric_columns(runs: list[Run], order_by: list[str]) -> list[str]:
    """Metrics to show as columns: those ordered by first, then the most common ones."""
    keys: list[str] = []
    for item in order_by:
        head = item.strip().split()[0] if item.strip() else ""
        for prefix in ("metrics.", "metric."):
            if head.startswith(prefix) and head[len(prefix) :] not in keys:
                keys.append(head[len(prefix) :].strip('`"'))
    counts: dict[str, int] = {}
    for r in runs:
        for k in r.metrics:
            counts[k] = counts.get(k, 0) + 1
    keys += [k for k in sorted(counts, key=lambda k: (-counts[k], k)) if k not in keys]
    return keys[:_MAX_METRIC_COLUMNS]


@app.command("list")
def list_(
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Only runs of this experiment (repeatable)."),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            help="E.g. \"metrics.accuracy > 0.9 and params.model = 'lr'\" "
            "(metrics., params., tags., attributes.; and/or/not; = != < <= > >= in like).",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            "-o",
            help="A field, then asc or desc; repeatable, e.g. 'metrics.loss asc'.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 100,
    json_out: JsonOpt = False,
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    with errors_to_exit():
        runs = _tracking().search_runs(experiment or None, filter_, order_by or [], limit)
    if json_out:
        emit_json([r.to_dict(detail=False) for r in runs])
        return
    if not runs:
        console().print(
            "no runs match"
            if filter_ or experiment
            else "no runs yet; start one with: with loopml.start_run(experiment='NAME') as run: ..."
        )
        return
    from rich.text import Text

    metric_keys = _metric_columns(runs, order_by or [])
    columns = [
        Column("id", key=True),
        Column("experiment", key=True),
        Column("name", key=True),
        Column("status", wrap=False),
        Column("started", wrap=False, drop=_MAX_METRIC_COLUMNS + 2),
        Column("elapsed", wrap=False, drop=_MAX_METRIC_COLUMNS + 1),
        # metrics beyond the first go first, the rightmost first, when space is short
        *(
            Column(k, wrap=False, drop=_MAX_METRIC_COLUMNS + 3 + i if i else 1)
            for i, k in enumerate(metric_keys)
        ),
    ]
    rows = [
        (
            r.id[:8],
            r.experiment,
            r.name,
            Text(r.status.value, style=_STATUS_STYLE.get(r.status.value, "white")),
            _when(r.start_time),
            _duration(r.elapsed),
            *(_num(r.metrics.get(k)) for k in metric_keys),
        )
        for r in runs
    ]
    print_table(columns, rows)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix of 4+ characters).")],
    json_out: JsonOpt = False,
) -> None:
    """Show a run: status, times, code, environment, params, metrics, tags, inputs, artifacts."""
    with errors_to_exit():
        run = _tracking().get_run(run_id)
    if json_out:
        emit_json(run.to_dict())
        return
    _render_run(run)


def _render_run(r: Run) -> None:
    c = console()
    c.print(f"[bold]{r.experiment}/{r.name}[/]  {r.id}  {_status(r)}")
    c.print(
        f"started {_when(r.start_time)}, ended {_when(r.end_time)}, "
        f"elapsed {_duration(r.elapsed)}, by {r.created_by}"
    )
    if r.pid is not None:
        beat = f", last heartbeat {iso(r.heartbeat_at)}" if r.status.value == "running" else ""
        c.print(f"process: pid {r.pid} on {r.host}{beat}")
    if r.parent_run_id:
        c.print(f"parent run: {r.parent_run_id}")
    code = r.code
    if code.get("commit"):
        dirty = f", dirty (diff {str(code.get('diff_digest'))[:12]})" if code.get("dirty") else ""
        c.print(f"code: {code['commit'][:12]} on {code.get('branch') or 'detached HEAD'}{dirty}")
    env = r.environment
    if env:
        c.print(
            f"environment: Python {env.get('python')} on {env.get('platform')}, "
            f"{len(env.get('packages') or {})} packages (--json lists them)"
        )
    if r.inputs:
        c.print("inputs: " + ", ".join(r.inputs))
    if r.params:
        print_table([Column("param", key=True), Column("value")], r.params.items(), title="params")
    if r.metric_summaries:
        print_table(
            [
                Column("metric", key=True),
                Column("latest", wrap=False),
                Column("step", wrap=False, drop=4),
                Column("min", wrap=False, drop=2),
                Column("max", wrap=False, drop=3),
                Column("points", wrap=False, drop=1),
            ],
            [
                (k, _num(s.value), str(s.step), _num(s.min), _num(s.max), str(s.count))
                for k, s in r.metric_summaries.items()
            ],
            title="metrics",
        )
    if r.tags:
        print_table([Column("tag", key=True), Column("value")], r.tags.items(), title="tags")
    if r.artifacts:
        print_table(
            [Column("artifact", key=True), Column("size", wrap=False), Column("digest", drop=1)],
            [(a.path, human_bytes(a.size), a.digest[:16]) for a in r.artifacts],
            title="artifacts",
        )
    if r.error:
        c.print("[red]error:[/]")
        c.print(r.error, markup=False, highlight=False)


def comparison(runs: list[Run]) -> dict[str, Any]:
    """Params and latest metrics of ``runs`` side by side, keyed by run id."""
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({k for r in runs for k in r.metrics})
    table_p = {k: {r.id: r.params.get(k) for r in runs} for k in params}
    table_m = {k: {r.id: r.metrics.get(k) for r in runs} for k in metrics}
    return {
        "runs": [
            {"id": r.id, "experiment": r.experiment, "name": r.name, "status": r.status.value}
            for r in runs
        ],
        "params": table_p,
        "metrics": table_m,
        "differing_params": [k for k, row in table_p.items() if len(set(row.values())) > 1],
    }


@app.command()
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or prefixes).")],
    json_out: JsonOpt = False,
) -> None:
    """Params and metrics of several runs side by side."""
    if len(run_ids) < 2:
        raise fail("compare needs at least two run ids, e.g. loopml runs compare ID1 ID2")
    with errors_to_exit():
        tracking = _tracking()
        runs = [tracking.get_run(i) for i in run_ids]
    data = comparison(runs)
    if json_out:
        emit_json(data)
        return
    from rich.text import Text

    differing = set(data["differing_params"])
    rows: list[tuple[str | Text, ...]] = []
    for k, row in data["params"].items():
        style = "yellow" if k in differing else ""
        rows.append(
            (Text(f"params.{k}", style=style), *(Text(row[r.id] or "-", style=style) for r in runs))
        )
    for k, mrow in data["metrics"].items():
        rows.append(
            (f"metrics.{k}", *("-" if mrow[r.id] is None else _num(mrow[r.id]) for r in runs))
        )
    print_table([Column("", key=True), *(Column(f"{r.name}\n{r.id[:12]}") for r in runs)], rows)
    if differing:
        console().print(f"params that differ (yellow): {', '.join(sorted(differing))}")


def reap_dead() -> tuple[list[Any], list[str]]:
    """End running runs whose process is dead as lost, then fail the pipeline runs they
    coordinated; returns (lost runs, failed pipeline run ids)."""
    from loopml.sdk import default_client

    maintenance = default_client().maintenance
    return maintenance.reap_runs(), maintenance.reap_pipelines()


@app.command()
def reap(json_out: JsonOpt = False) -> None:
    """End running runs whose process is dead as lost, and fail the pipeline runs they
    coordinated (listing and showing runs never do this; ``loopml gc`` does too)."""
    with errors_to_exit():
        lost, pipelines = reap_dead()
    if json_out:
        emit_json([r.to_dict() for r in lost])
        return
    if not lost and not pipelines:
        console().print("no dead runs: every running run has a live process")
        return
    for r in lost:
        console().print(f"{r.id[:8]} {r.experiment}/{r.name}: {r.reason}", highlight=False)
    for run_id in pipelines:
        console().print(f"pipeline run {run_id[:8]} failed: its coordinator died")
