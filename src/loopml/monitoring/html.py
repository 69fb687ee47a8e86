"""A monitoring report as one self-contained HTML page: inline CSS and inline SVG charts, no
script, no external resource (a Content-Security-Policy forbids loading any), so it opens
offline and can be mailed or archived as one file. Every name and value from the data is
escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from loopml.api.monitoring import (
    ColumnDrift,
    ColumnQuality,
    DriftReport,
    Histogram,
    ReportWindow,
)

_REF = "#5b7fa6"
_CUR = "#e8833a"
_PALETTE = ("#3b6ea5", "#d9622b", "#3a9a5b", "#8e5ba6", "#b8860b", "#c0392b", "#16a0a0")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2933;
background:#f5f7fa}
header{background:#1f2933;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cbd2d9;font-size:13px}
main{padding:20px 28px;max-width:1200px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px;
margin-bottom:18px}
h2{font-size:17px;margin:0 0 12px}h3{font-size:14px;margin:0 0 6px;word-break:break-all}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f0f3f7;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.drift{background:#fde2e1;color:#a61b1b}.ok{background:#dff5e3;color:#1e6b34}
.na{background:#fff3cd;color:#7a5b00}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{border:1px solid #e4e7eb;border-radius:6px;padding:10px 12px}
.card p{margin:4px 0;font-size:12px;color:#52606d}
.legend{font-size:12px;color:#52606d}.legend span{display:inline-block;width:10px;height:10px;
margin:0 4px 0 10px;border-radius:2px}
svg text{font-size:10px;fill:#52606d}
"""


def e(value: object) -> str:
    """Escaped text of ``value`` (also quotes, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return e(value)
    if isinstance(value, float) and value != 0 and abs(value) < 10 ** (-digits):
        return e(f"{value:.2e}")
    return e(f"{value:.{digits}g}" if isinstance(value, float) else value)


def _share(value: float | None) -> str:
    return "–" if value is None else e(f"{value:.1%}")


def render_report(title: str, windows: Sequence[ReportWindow]) -> str:
    """The whole report: a summary per window, quality over time, and the drift of every
    column in the latest window that has drift results."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{e(title)}</h1><p>{_span(windows)}</p></header><main>",
        _windows_table(windows),
        _quality_charts(windows),
    ]
    latest = next((w for w in reversed(windows) if w.drift is not None), None)
    if latest is not None and latest.drift is not None:
        parts.append(_drift_section(latest, latest.drift))
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p)


def _span(windows: Sequence[ReportWindow]) -> str:
    if not windows:
        return "no windows computed yet"
    n = len(windows)
    return e(f"{n} window{'s' if n != 1 else ''}, {windows[0].start} to {windows[-1].end}")


def _decision(d: ColumnDrift | None) -> str:
    if d is None:
        return '<span class="badge na">–</span>'
    if d.drifted is None:
        return f'<span class="badge na">not compared: {e(d.status.value)}</span>'
    if d.drifted:
        return '<span class="badge drift">drift</span>'
    return '<span class="badge ok">no drift</span>'


def _dataset_decision(report: DriftReport | None) -> str:
    if report is None:
        return "–"
    if report.dataset_drift is None:
        return '<span class="badge na">not decided</span>'
    if report.dataset_drift:
        return '<span class="badge drift">dataset drift</span>'
    return '<span class="badge ok">no dataset drift</span>'


def _windows_table(windows: Sequence[ReportWindow]) -> str:
    if not windows:
        return "<section><h2>Windows</h2><p>No windows computed yet.</p></section>"
    metric_names = sorted(
        {m for w in windows if w.quality for m in w.quality.metrics}
        | {m for w in windows if w.estimate for m in w.estimate.metrics}
    )
    head = "".join(f"<th>{e(m)}</th>" for m in metric_names)
    rows = []
    for w in windows:
        d = w.drift
        cells = [
            f"<td>{e(w.start)}</td><td>{e(w.end)}</td>",
            f'<td class="num">{e(d.current_rows) if d else "–"}</td>',
            f"<td>{_dataset_decision(d)}</td>",
            f'<td class="num">{e(f"{len(d.drifted_columns)} of {d.compared}") if d else "–"}</td>',
            f'<td class="num">{e(d.not_comparable) if d else "–"}</td>',
            f'<td class="num">{_share(w.quality.coverage) if w.quality else "–"}</td>',
        ]
        for m in metric_names:
            real = w.quality.metrics.get(m) if w.quality else None
            est = w.estimate.metrics.get(m) if w.estimate else None
            text = _num(real) if real is not None else ""
            if est is not None:
                text += f" <small>(est. {_num(est, 3)})</small>"
            cells.append(f'<td class="num">{text or "–"}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<section><h2>Windows</h2><table><thead><tr><th>start</th><th>end</th><th>rows</th>"
        "<th>dataset</th><th>drifted features</th><th>not compared</th><th>label coverage</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _quality_charts(windows: Sequence[ReportWindow]) -> str:
    names = sorted(
        {m for w in windows if w.quality for m in w.quality.metrics}
        | {m for w in windows if w.estimate for m in w.estimate.metrics}
    )
    if not names:
        return ""
    cards = []
    for name in names:
        realized = [w.quality.metrics.get(name) if w.quality else None for w in windows]
        estimated = [w.estimate.metrics.get(name) if w.estimate else None for w in windows]
        registered = next((w.registered[name] for w in windows if name in w.registered), None)
        chart = _line_chart(realized, estimated, registered, [w.start for w in windows])
        cards.append(f'<div class="card"><h3>{e(name)}</h3>{chart}</div>')
    legend = (
        f'<p class="legend"><span style="background:{_PALETTE[0]}"></span>realized (labels)'
        f'<span style="background:{_PALETTE[1]}"></span>estimated (no labels, dashed)'
        '<span style="background:#7b8794"></span>registered on the served version (dotted)</p>'
    )
    return (
        f'<section><h2>Quality over time</h2>{legend}<div class="grid">{"".join(cards)}</div>'
        "</section>"
    )


def _line_chart(
    realized: list[float | None],
    estimated: list[float | None],
    registered: float | None,
    labels: list[str],
) -> str:
    w, h, left, right, top, bottom = 320, 140, 40, 10, 10, 24
    values = [v for v in (*realized, *estimated, registered) if v is not None and math.isfinite(v)]
    if not values:
        return "<p>no values</p>"
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad
    n = len(labels)

    def x(i: int) -> float:
        return left + (w - left - right) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return top + (h - top - bottom) * (1 - (v - lo) / (hi - lo))

    out = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">']
    out.append(
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#cbd2d9"/>'
    )
    for v in (lo + pad, hi - pad):
        out.append(f'<text x="2" y="{y(v) + 3:.1f}">{_num(v, 3)}</text>')
    if labels:
        out.append(f'<text x="{left}" y="{h - 6}">{e(labels[0][:16])}</text>')
        if n > 1:
            out.append(
                f'<text x="{w - right}" y="{h - 6}" text-anchor="end">{e(labels[-1][:16])}</text>'
            )
    if registered is not None and math.isfinite(registered):
        out.append(
            f'<line x1="{left}" y1="{y(registered):.1f}" x2="{w - right}" '
            f'y2="{y(registered):.1f}" stroke="#7b8794" stroke-dasharray="2,3"/>'
        )
    for series, color, dash in ((realized, _PALETTE[0], ""), (estimated, _PALETTE[1], "5,3")):
        points = [(x(i), y(v)) for i, v in enumerate(series) if v is not None and math.isfinite(v)]
        if not points:
            continue
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash_attr}/>'
        )
        for px, py in points:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}"/>')
    out.append("</svg>")
    return "".join(out)


def _drift_section(window: ReportWindow, report: DriftReport) -> str:
    quality = {q.column: q for q in report.quality}
    summary = (
        f"<p>Window {e(window.start)} to {e(window.end)}: {e(report.current_rows)} current rows "
        f"against {e(report.reference_rows)} reference rows. {_dataset_decision(report)} "
        f"{e(f'{report.drifted_share:.0%}')} of {e(report.compared)} compared features drifted "
        f"(threshold {e(f'{report.share_threshold:.0%}')}); {e(report.not_comparable)} could "
        "not be compared.</p>"
    )
    if report.note:
        summary += f"<p>{e(report.note)}</p>"
    legend = (
        f'<p class="legend"><span style="background:{_REF}"></span>reference'
        f'<span style="background:{_CUR}"></span>current (share of values)</p>'
    )
    cards = [_column_card(d, quality.get(d.column)) for d in report.columns]
    pred = ""
    if report.prediction is not None:
        pred = (
            f'<h2>Prediction drift</h2><div class="grid">{_column_card(report.prediction, None)}'
            "</div>"
        )
    return (
        f"<section><h2>Feature drift, latest window</h2>{summary}{_drift_table(report)}</section>"
        f'<section>{pred}<h2>Features</h2>{legend}<div class="grid">{"".join(cards)}</div>'
        f"</section>{_quality_table(report)}"
    )


def _drift_table(report: DriftReport) -> str:
    rows = []
    for d in (*report.columns, *([report.prediction] if report.prediction else [])):
        rows.append(
            f"<tr><td>{e(d.column)}</td><td>{e(d.kind.value)}</td><td>{e(d.test.value)}</td>"
            f'<td class="num">{_num(d.statistic)}</td><td class="num">{_num(d.p_value)}</td>'
            f'<td class="num">{_num(d.threshold)}</td><td class="num">{_num(d.psi, 3)}</td>'
            f'<td class="num">{e(d.reference_rows)}</td><td class="num">{e(d.current_rows)}</td>'
            f"<td>{_decision(d)}</td><td>{e(d.note)}</td></tr>"
        )
    return (
        "<table><thead><tr><th>column</th><th>kind</th><th>test</th><th>statistic</th>"
        "<th>p-value</th><th>threshold</th><th>PSI</th><th>reference values</th>"
        "<th>current values</th><th>decision</th><th>note</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _column_card(d: ColumnDrift, q: ColumnQuality | None) -> str:
    rule = "p-value &lt;" if d.test.uses_p_value else "statistic ≥"
    value = d.p_value if d.test.uses_p_value else d.statistic
    lines = [
        f"<p>{e(d.kind.value)} · {e(d.test.value)}: {_num(value)} ({rule} {_num(d.threshold)}"
        f" means drift) · {_decision(d)}</p>"
    ]
    if d.note:
        lines.append(f"<p>{e(d.note)}</p>")
    if q is not None:
        facts = [f"missing {_share(q.missing_share_reference)} → {_share(q.missing_share_current)}"]
        if q.out_of_range_share:
            facts.append(f"outside the reference range {_share(q.out_of_range_share)}")
        if q.new_categories:
            facts.append(
                f"new categories ({_share(q.new_category_share)}): "
                + ", ".join(e(c) for c in q.new_categories)
            )
        if q.type_violation:
            facts.append(e(q.type_violation))
        lines.append(f"<p>{' · '.join(facts)}</p>")
    chart = _bar_chart(d.histogram) if d.histogram is not None else ""
    return f'<div class="card"><h3>{e(d.column)}</h3>{"".join(lines)}{chart}</div>'


def _bar_chart(hist: Histogram) -> str:
    ref, cur = list(hist.reference), list(hist.current)
    labels: list[str]
    if hist.categories:
        labels = list(hist.categories)
        if hist.other_reference or hist.other_current:
            ref.append(hist.other_reference)
            cur.append(hist.other_current)
            labels.append("(other)")
    else:
        labels = [_num(v, 3) for v in hist.edges[:-1]]
    n = len(ref)
    if n == 0:
        return ""
    ref_total, cur_total = sum(ref) or 1, sum(cur) or 1
    shares = [(r / ref_total, c / cur_total) for r, c in zip(ref, cur, strict=True)]
    top = max(max(s) for s in shares) or 1.0
    w, h, bottom = 320, 120, 30
    slot = w / n
    bar = max(slot / 2 - 1, 0.5)
    out = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">']
    for i, (rs, cs) in enumerate(shares):
        for j, (share, color) in enumerate(((rs, _REF), (cs, _CUR))):
            bh = (h - bottom - 4) * share / top
            out.append(
                f'<rect x="{i * slot + j * bar + 0.5:.1f}" y="{h - bottom - bh:.1f}" '
                f'width="{bar:.1f}" height="{bh:.1f}" fill="{color}">'
                f"<title>{e(labels[i])}: {'reference' if j == 0 else 'current'} "
                f"{e(f'{share:.1%}')}</title></rect>"
            )
    out.append(f'<line x1="0" y1="{h - bottom}" x2="{w}" y2="{h - bottom}" stroke="#cbd2d9"/>')
    if hist.categories:
        step = max(1, math.ceil(n / 8))
        for i in range(0, n, step):
            out.append(
                f'<text x="{i * slot + 1:.1f}" y="{h - bottom + 12}">{e(labels[i][:10])}</text>'
            )
    elif hist.edges:
        out.append(f'<text x="1" y="{h - bottom + 12}">{_num(hist.edges[0], 3)}</text>')
        out.append(
            f'<text x="{w - 1}" y="{h - bottom + 12}" text-anchor="end">'
            f"{_num(hist.edges[-1], 3)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _quality_table(report: DriftReport) -> str:
    if not report.quality:
        return ""
    rows = []
    for q in report.quality:
        new = ", ".join(q.new_categories)
        rows.append(
            f"<tr><td>{e(q.column)}</td><td class='num'>{_share(q.missing_share_reference)}</td>"
            f"<td class='num'>{_share(q.missing_share_current)}</td>"
            f"<td class='num'>{_share(q.out_of_range_share)}</td>"
            f"<td>{e(new)}{' (' + _share(q.new_category_share) + ')' if new else ''}</td>"
            f"<td>{e(q.type_violation or '')}</td></tr>"
        )
    return (
        "<section><h2>Data quality, latest window</h2><table><thead><tr><th>column</th>"
        "<th>missing (reference)</th><th>missing (current)</th><th>outside reference range</th>"
        "<th>new categories</th><th>schema</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )
