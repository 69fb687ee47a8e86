// Small hand-written SVG charts: lines over steps or time, grouped bars (histograms) and a
// pipeline DAG. Colours are SVG presentation attributes (no inline styles under the CSP).

import { fmtNum, fmtTime, fmtSeconds, h, s } from "./dom.js";

export const COLORS = [
  "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c",
  "#0891b2", "#be185d", "#65a30d", "#4b5563", "#ca8a04",
];

const MAX_POINTS = 2000;

function ticks(lo, hi, count) {
  if (lo === hi) return [lo];
  const span = hi - lo;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => span / st <= count) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function thin(points) {
  if (points.length <= MAX_POINTS) return points;
  const stride = Math.ceil(points.length / MAX_POINTS);
  const out = points.filter((_, i) => i % stride === 0);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

/**
 * Lines: series is [{name, points: [[x, y], ...]}]; xKind "step" or "time" (epoch seconds).
 * Returns a <figure class="chart" data-series="N"> with one <path class="series"> per series.
 */
export function lineChart(series, { title = "", xKind = "step", width = 520, height = 240 } = {}) {
  const pad = { left: 58, right: 12, top: 12, bottom: 30 };
  const drawn = series
    .map((ser, i) => ({ ...ser, color: COLORS[i % COLORS.length], points: thin(ser.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))) }))
    .filter((ser) => ser.points.length);
  const fig = h("figure", { class: "chart", "data-series": String(drawn.length) });
  if (title) fig.appendChild(h("figcaption", null, title));
  if (!drawn.length) {
    fig.appendChild(h("p", { class: "muted" }, "no points"));
    return fig;
  }
  const xs = drawn.flatMap((ser) => ser.points.map((p) => p[0]));
  const ys = drawn.flatMap((ser) => ser.points.map((p) => p[1]));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.05, y1 + Math.abs(y1 || 1) * 0.05];
  const margin = (y1 - y0) * 0.04;
  [y0, y1] = [y0 - margin, y1 + margin];
  const W = width - pad.left - pad.right;
  const H = height - pad.top - pad.bottom;
  const px = (x) => pad.left + ((x - x0) / (x1 - x0)) * W;
  const py = (y) => pad.top + H - ((y - y0) / (y1 - y0)) * H;
  const span = x1 - x0;
  const [from, to] = span < 600 ? [11, 19] : span < 86400 ? [11, 16] : [5, 16];
  const xfmt = xKind === "time" ? (v) => fmtTime(v).slice(from, to) : fmtNum;

  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "plot" });
  const grid = s("g", { class: "axis" });
  for (const v of ticks(y0, y1, 5)) {
    grid.appendChild(s("line", { x1: pad.left, x2: pad.left + W, y1: py(v), y2: py(v), stroke: "#e5e7eb" }));
    grid.appendChild(s("text", { x: pad.left - 6, y: py(v) + 4, "text-anchor": "end" }, fmtNum(v)));
  }
  for (const v of ticks(x0, x1, xKind === "time" ? 4 : 6)) {
    grid.appendChild(s("line", { x1: px(v), x2: px(v), y1: pad.top + H, y2: pad.top + H + 4, stroke: "#6b7280" }));
    grid.appendChild(s("text", { x: px(v), y: pad.top + H + 18, "text-anchor": "middle" }, xfmt(v)));
  }
  grid.appendChild(s("rect", { x: pad.left, y: pad.top, width: W, height: H, fill: "none", stroke: "#9ca3af" }));
  svg.appendChild(grid);
  for (const ser of drawn) {
    const d = ser.points.map(([x, y], i) => `${i ? "L" : "M"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join("");
    const path = s("path", { d, class: "series", fill: "none", stroke: ser.color, "stroke-width": 1.6 }, s("title", null, ser.name));
    svg.appendChild(path);
    if (ser.points.length <= 40) {
      for (const [x, y] of ser.points) svg.appendChild(s("circle", { cx: px(x), cy: py(y), r: 2.2, fill: ser.color }));
    }
  }
  const cursor = s("line", { y1: pad.top, y2: pad.top + H, stroke: "#111827", "stroke-dasharray": "3 3", visibility: "hidden" });
  svg.appendChild(cursor);
  fig.appendChild(svg);

  const readout = h("div", { class: "readout" }, "\u00a0");
  svg.addEventListener("mousemove", (ev) => {
    const box = svg.getBoundingClientRect();
    const x = x0 + ((((ev.clientX - box.left) / box.width) * width - pad.left) / W) * (x1 - x0);
    const parts = [];
    let at = null;
    for (const ser of drawn) {
      let best = ser.points[0];
      for (const p of ser.points) if (Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p;
      at = at === null || Math.abs(best[0] - x) < Math.abs(at - x) ? best[0] : at;
      parts.push(`${ser.name}: ${fmtNum(best[1])}`);
    }
    cursor.setAttribute("x1", px(at));
    cursor.setAttribute("x2", px(at));
    cursor.setAttribute("visibility", "visible");
    readout.textContent = `${xKind === "time" ? fmtTime(at) : "step " + fmtNum(at)} · ${parts.join(" · ")}`;
  });
  svg.addEventListener("mouseleave", () => cursor.setAttribute("visibility", "hidden"));
  fig.appendChild(readout);
  if (drawn.length > 1 || drawn[0].name) {
    fig.appendChild(
      h("ul", { class: "legend" }, drawn.map((ser) =>
        h("li", null, swatch(ser.color), ser.name))),
    );
  }
  return fig;
}

function swatch(color) {
  return s("svg", { width: 12, height: 12, class: "swatch" }, s("rect", { width: 12, height: 12, fill: color }));
}

/**
 * Reference vs current counts of one column (a monitoring histogram), as shares of each side.
 * hist: {reference, current, edges, categories, other_reference, other_current}.
 */
export function histogramChart(hist, { title = "", width = 420, height = 200 } = {}) {
  const fig = h("figure", { class: "chart" });
  if (title) fig.appendChild(h("figcaption", null, title));
  let labels;
  let ref = [...(hist.reference || [])];
  let cur = [...(hist.current || [])];
  if (hist.categories && hist.categories.length) {
    labels = [...hist.categories];
    if (hist.other_reference || hist.other_current) {
      labels.push("other");
      ref.push(hist.other_reference || 0);
      cur.push(hist.other_current || 0);
    }
  } else {
    const e = hist.edges || [];
    labels = ref.map((_, i) => (e.length > i ? fmtNum(e[i]) : String(i)));
  }
  const total = (xs) => xs.reduce((a, b) => a + b, 0) || 1;
  const [tr, tc] = [total(ref), total(cur)];
  ref = ref.map((v) => v / tr);
  cur = cur.map((v) => v / tc);
  const n = Math.max(ref.length, cur.length);
  if (!n) {
    fig.appendChild(h("p", { class: "muted" }, "no histogram"));
    return fig;
  }
  const pad = { left: 40, right: 8, top: 8, bottom: 34 };
  const W = width - pad.left - pad.right;
  const H = height - pad.top - pad.bottom;
  const top = Math.max(...ref, ...cur) || 1;
  const bw = W / n;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "plot" });
  for (const v of ticks(0, top, 4)) {
    const y = pad.top + H - (v / top) * H;
    svg.appendChild(s("line", { x1: pad.left, x2: pad.left + W, y1: y, y2: y, stroke: "#e5e7eb" }));
    svg.appendChild(s("text", { x: pad.left - 4, y: y + 4, "text-anchor": "end", class: "axis" }, `${Math.round(v * 100)}%`));
  }
  const bars = s("g", { class: "bars" });
  for (let i = 0; i < n; i++) {
    const x = pad.left + i * bw;
    for (const [j, vals, color, name] of [[0, ref, COLORS[0], "reference"], [1, cur, COLORS[4], "current"]]) {
      const v = vals[i] || 0;
      const bh = (v / top) * H;
      bars.appendChild(
        s("rect", { x: x + 1 + (j * (bw - 2)) / 2, y: pad.top + H - bh, width: Math.max((bw - 2) / 2, 0.5), height: bh, fill: color },
          s("title", null, `${labels[i]} ${name}: ${(v * 100).toFixed(1)}%`)),
      );
    }
    if (n <= 12 || i % Math.ceil(n / 8) === 0) {
      svg.appendChild(s("text", { x: x + bw / 2, y: pad.top + H + 14, "text-anchor": "middle", class: "axis" }, String(labels[i]).slice(0, 12)));
    }
  }
  svg.appendChild(bars);
  fig.appendChild(svg);
  fig.appendChild(h("ul", { class: "legend" }, h("li", null, swatch(COLORS[0]), "reference"), h("li", null, swatch(COLORS[4]), "current")));
  return fig;
}

const STEP_COLORS = {
  succeeded: "#dcfce7", cached: "#e0f2fe", failed: "#fee2e2", running: "#fef9c3",
  pending: "#f3f4f6", skipped: "#f3f4f6",
};

/** A pipeline run's steps as a left-to-right DAG: one box per step with status and timing. */
export function dagChart(steps, { onSelect } = {}) {
  const byName = new Map(steps.map((st) => [st.name, st]));
  const depth = new Map();
  const depthOf = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const st = byName.get(name);
    const ups = (st && st.upstream) || [];
    const d = ups.length ? 1 + Math.max(...ups.filter((u) => byName.has(u)).map((u) => depthOf(u, seen)), -1) : 0;
    depth.set(name, d);
    return d;
  };
  steps.forEach((st) => depthOf(st.name));
  const columns = [];
  for (const st of [...steps].sort((a, b) => (a.position ?? 0) - (b.position ?? 0))) {
    const d = depth.get(st.name);
    (columns[d] = columns[d] || []).push(st);
  }
  const [bw, bh, gx, gy] = [170, 54, 60, 18];
  const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  const width = columns.length * (bw + gx) + 20;
  const height = rows * (bh + gy) + 20;
  const pos = new Map();
  columns.forEach((col, ci) => (col || []).forEach((st, ri) => pos.set(st.name, [10 + ci * (bw + gx), 10 + ri * (bh + gy)])));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "dag" });
  for (const st of steps) {
    const [x2, y2] = pos.get(st.name);
    for (const up of st.upstream || []) {
      if (!pos.has(up)) continue;
      const [x1, y1] = pos.get(up);
      const [ax, ay, bx, by] = [x1 + bw, y1 + bh / 2, x2, y2 + bh / 2];
      svg.appendChild(s("path", { d: `M${ax},${ay} C${ax + gx / 2},${ay} ${bx - gx / 2},${by} ${bx},${by}`, fill: "none", stroke: "#6b7280", class: "edge" }));
    }
  }
  for (const st of steps) {
    const [x, y] = pos.get(st.name);
    const status = String(st.status);
    const detail = st.cached_from ? `cached from ${String(st.cached_from).slice(0, 8)}` : status;
    const elapsed = st.end_time != null && st.start_time != null && typeof st.end_time === "number" ? fmtSeconds(st.end_time - st.start_time) : st.elapsed_s != null ? fmtSeconds(st.elapsed_s) : "";
    const g = s("g", { class: "step", "data-step": st.name, "data-status": status, tabindex: 0 },
      s("rect", { x, y, width: bw, height: bh, rx: 6, fill: STEP_COLORS[status] || "#f3f4f6", stroke: status === "failed" ? "#dc2626" : "#6b7280" }),
      s("text", { x: x + 8, y: y + 18, class: "name" }, String(st.name).slice(0, 22)),
      s("text", { x: x + 8, y: y + 34, class: "sub" }, detail),
      s("text", { x: x + 8, y: y + 48, class: "sub" }, elapsed),
      s("title", null, `${st.name}: ${status}${elapsed ? ", " + elapsed : ""}`));
    if (onSelect) g.addEventListener("click", () => onSelect(st));
    svg.appendChild(g);
  }
  return h("div", { class: "dagbox" }, svg);
}
