"""``loopml monitor add|list|show|remove|run|report``: parse, call the monitoring service,
render. No business rules here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from loopml.cli.output import Column, console, emit_json, errors_to_exit, print_table

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DeploymentArg = Annotated[
    str, typer.Argument(help="What the endpoint serves, e.g. churn@production.")
]

app = typer.Typer(
    help="Monitors: drift of the logged inputs and predictions, quality from feedback, alerts.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Monitors: drift of the logged inputs and predictions, quality from feedback, alerts."""


def _service() -> Any:
    from loopml.sdk import default_client

    return default_client().monitoring


@app.command()
def add(
    deployment: DeploymentArg,
    reference: Annotated[
        str | None,
        typer.Option(
            help="Compare with this dataset version (data@3) or logged traffic (traffic:24h, "
            "traffic:START/END); default: the version's training data."
        ),
    ] = None,
    window: Annotated[str, typer.Option(help="Length of the window a run looks at.")] = "1h",
    every: Annotated[
        str | None, typer.Option(help="Run on this schedule (kept for the triggers controller).")
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            help="Alert rule, repeatable: dataset_drift, drift:COLUMN, prediction_drift, "
            '"accuracy < registered - 0.05", "label_coverage < 0.5".'
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="The label column of the reference dataset.")
    ] = None,
    share: Annotated[
        float, typer.Option(help="Share of drifted features that makes dataset drift.")
    ] = 0.5,
    column: Annotated[
        list[str] | None,
        typer.Option(
            help="Per-column override, repeatable: COLUMN:test=ks,threshold=0.01,kind=numeric."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Watch DEPLOYMENT: compare each window of its prediction log with a reference."""
    from loopml.monitoring.periods import parse_column_option

    with errors_to_exit():
        columns = dict(parse_column_option(c) for c in column or [])
        spec = _service().add(
            deployment,
            reference=reference,
            window=window,
            every=every,
            rules=rule or [],
            share_threshold=share,
            target=target,
            columns=columns,
        )
    if json_out:
        emit_json(spec.to_dict())
        return
    console().print(
        f"monitoring {spec.deployment} against {_reference(spec)}, window {_period(spec.window_s)}"
        + (f", {len(spec.rules)} rule(s)" if spec.rules else "")
        + f"; run it with: loopml monitor run {spec.deployment}"
    )


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List the monitors."""
    with errors_to_exit():
        specs = _service().list()
    if json_out:
        emit_json([s.to_dict() for s in specs])
        return
    if not specs:
        console().print("no monitors yet; add one with: loopml monitor add MODEL@ALIAS")
        return
    print_table(
        [
            Column("deployment", key=True),
            Column("reference"),
            Column("window", wrap=False),
            Column("every", wrap=False, drop=2),
            Column("rules", drop=1),
        ],
        [
            (
                s.deployment,
                _reference(s),
                _period(s.window_s),
                "-" if s.every_s is None else _period(s.every_s),
                ", ".join(s.rules) or "-",
            )
            for s in specs
        ],
    )


@app.command()
def show(deployment: DeploymentArg, json_out: JsonOpt = False) -> None:
    """Show a monitor and its latest result."""
    with errors_to_exit():
        spec = _service().get(deployment)
        latest = _service().results(deployment, limit=1)
    if json_out:
        emit_json(spec.to_dict() | {"latest": latest[0].to_dict() if latest else None})
        return
    c = console()
    c.print(f"[bold]{spec.deployment}[/] (monitor {spec.id})")
    c.print(f"  reference: {_reference(spec)}")
    c.print(f"  window:    {_period(spec.window_s)}")
    if spec.every_s is not None:
        c.print(f"  every:     {_period(spec.every_s)}")
    for r in spec.rules:
        c.print(f"  rule:      {r}")
    if latest:
        _render_result(latest[0])
    else:
        c.print(f"  no results yet; run it with: loopml monitor run {spec.deployment}")


@app.command()
def remove(deployment: DeploymentArg, json_out: JsonOpt = False) -> None:
    """Stop watching DEPLOYMENT (its stored results are removed too)."""
    with errors_to_exit():
        gone = _service().remove(deployment)
    if json_out:
        emit_json({"deployment": deployment, "results_removed": gone})
        return
    console().print(f"removed the monitor of {deployment} and {gone} result(s)")


@app.command()
def run(
    deployment: DeploymentArg,
    window: Annotated[
        str | None, typer.Option(help="Window ending now (default: the monitor's).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Window start, ISO 8601 (UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Window end, ISO 8601 (default now).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Compute a window now: drift per feature, quality from feedback, alerts; stored."""
    with errors_to_exit():
        result = _service().run(deployment, window=window, since=since, until=until)
    if json_out:
        emit_json(result.to_dict())
        return
    _render_result(result)


@app.command()
def report(
    deployment: DeploymentArg,
    limit: Annotated[int, typer.Option(help="Most windows, newest first.")] = 50,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The stored results of DEPLOYMENT's monitor over time (JSON, a table, or HTML)."""
    with errors_to_exit():
        results = _service().results(deployment, limit=limit)
        if html is not None:
            _write_html(deployment, results, html)
    if json_out:
        emit_json([r.to_dict() for r in results])
        return
    if html is not None:
        console().print(f"wrote {html} ({len(results)} window(s))")
        return
    if not results:
        console().print(f"no results yet; run the monitor with: loopml monitor run {deployment}")
        return
    print_table(
        [
            Column("id", key=True),
            Column("window end", key=True),
            Column("version", wrap=False),
            Column("rows", wrap=False, justify="right"),
            Column("status", wrap=False),
            Column("drifted", drop=3),
            Column("quality", drop=2),
            Column("alerts", drop=1),
        ],
        [
            (
                str(r.id),
                r.to_dict()["end_iso"],
                "-" if r.served_version is None else str(r.served_version),
                str(r.rows),
                r.status,
                _drifted(r),
                _quality_line(r),
                ", ".join(a.rule for a in r.alerts) or "-",
            )
            for r in results
        ],
    )


def _write_html(deployment: str, results: list[Any], path: Path) -> None:
    from loopml.api.monitoring import ReportWindow
    from loopml.core.errors import InvalidInput
    from loopml.monitoring.html import render_report

    windows = [
        ReportWindow(
            start=r.to_dict()["start_iso"],
            end=r.to_dict()["end_iso"],
            drift=r.drift,
            quality=r.quality,
            estimate=r.estimate,
            registered=r.registered,
        )
        for r in reversed(results)
    ]
    text = render_report(f"loopml monitor: {deployment}", windows)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write the report to {path}: {exc.strerror}") from None


# ---------- rendering
def _period(seconds: float) -> str:
    from loopml.monitoring.periods import show_period

    return show_period(seconds)


def _reference(spec: Any) -> str:
    return spec.reference or "the training data of the served version"


def _drifted(r: Any) -> str:
    if r.drift is None:
        return "-"
    if r.drift.dataset_drift is None:
        return "not enough data"
    cols = r.drift.drifted_columns
    return f"{len(cols)}/{r.drift.compared}" + (f" ({', '.join(cols[:3])})" if cols else "")


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _quality_line(r: Any) -> str:
    """The headline metric (accuracy or RMSE), realized and estimated."""
    q, e = r.quality, r.estimate
    parts = []
    if q is not None and q.metrics:
        key = next(k for k in ("accuracy", "rmse", *q.metrics) if k in q.metrics)
        parts.append(f"{key} {q.metrics[key]:.3f}")
    if e is not None and e.metrics.get("accuracy") is not None:
        parts.append(f"est. accuracy {e.metrics['accuracy']:.3f}")
    return "; ".join(parts) or "-"


def _render_result(r: Any) -> None:
    c = console()
    d = r.to_dict()
    c.print(
        f"[bold]{r.monitor}[/] window {d['start_iso']} → {d['end_iso']}: {r.rows} prediction(s)"
        f" (version {', '.join(map(str, r.versions)) or '-'}), reference {r.reference or '-'}"
        f" ({r.reference_rows} rows)"
    )
    if r.note:
        c.print(f"  note: {r.note}")
    if r.drift is not None:
        drift = r.drift
        columns = [*drift.columns, *([drift.prediction] if drift.prediction else [])]
        print_table(
            [
                Column("feature", key=True),
                Column("test", wrap=False),
                Column("statistic", wrap=False, justify="right"),
                Column("p-value", wrap=False, justify="right", drop=2),
                Column("threshold", wrap=False, justify="right"),
                Column("drifted", wrap=False),
                Column("note", drop=1),
            ],
            [
                (
                    col.column if col is not drift.prediction else f"{col.column} (model output)",
                    col.test.value,
                    _fmt(col.statistic),
                    _fmt(col.p_value, 3),
                    f"{col.threshold:g}",
                    "not enough data" if col.drifted is None else ("yes" if col.drifted else "no"),
                    col.note if col.drifted is None else "",
                )
                for col in columns
            ],
        )
        if drift.dataset_drift is None:
            c.print("dataset drift: [yellow]not decided[/] (no feature could be compared)")
        else:
            verdict = "[red]yes[/]" if drift.dataset_drift else "[green]no[/]"
            c.print(
                f"dataset drift: {verdict} ({len(drift.drifted_columns)} of {drift.compared} "
                f"compared feature(s) drifted, threshold {drift.share_threshold:.0%})"
            )
    q = r.quality
    if q is not None:
        if q.metrics:
            shown = ", ".join(
                f"{k} {v:.4f}"
                + (f" (registered {r.registered[k]:.4f})" if k in r.registered else "")
                for k, v in q.metrics.items()
            )
            c.print(f"quality ({q.task.value}): {shown}")
        c.print(
            f"labels: {q.labelled_rows} of {q.rows} prediction(s) ({q.coverage:.0%})"
            + (f"; {q.unknown_labels} label(s) for unknown request ids" if q.unknown_labels else "")
        )
    e = r.estimate
    if e is not None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in e.metrics.items())
        flag = "" if e.reliable else " [yellow](not reliable)[/]"
        c.print(
            f"estimated quality (no labels needed): {shown}{flag}"
            + (f"; {e.note}" if e.note else "")
        )
    for o in r.rules:
        mark = {True: "[red]ALERT[/]", False: "[green]ok[/]", None: "[yellow]undecided[/]"}[o.fired]
        c.print(f"  {mark} {o.rule}: {o.evidence}")
