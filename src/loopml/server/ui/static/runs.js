// Home, the runs table (server-side search, sort and pages), a run, and a comparison of runs.

import { api, seg } from "./api.js";
import { lineChart } from "./chart.js";
import { badge, clear, fmtBytes, fmtNum, fmtSeconds, fmtTime, h, kvTable, link, route, section, table, toEpoch } from "./dom.js";
import { errorBox } from "./app.js";

const PAGE_SIZE = 50;
const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A field of the filter grammar: metrics.acc, or metrics.`val loss` for other keys. */
export function field(prefix, key) {
  return SIMPLE_KEY.test(key) ? `${prefix}.${key}` : `${prefix}.\`${key.replace(/`/g, "")}\``;
}

async function settle(promise, render) {
  try {
    return render(await promise);
  } catch (err) {
    return errorBox(err);
  }
}

function elapsed(run) {
  if (run.elapsed_s != null) return fmtSeconds(run.elapsed_s);
  const a = toEpoch(run.start_time);
  const b = toEpoch(run.end_time);
  return a != null && b != null ? fmtSeconds(b - a) : "";
}

export function datasetRefLink(ref) {
  const m = /^(.+)@(\d+)$/.exec(String(ref));
  return m ? link(["datasets", m[1], m[2]], ref) : h("span", null, ref);
}

// --- Home -------------------------------------------------------------------------------

export async function homePage() {
  const datasets = settle(api.items("/datasets", { limit: 1000 }), (items) => {
    const latest = [...items].sort((a, b) => (toEpoch(b.updated_at) || 0) - (toEpoch(a.updated_at) || 0)).slice(0, 6);
    return latest.length
      ? table([["dataset", (d) => link(["datasets", d.name, d.latest_version], `${d.name}@${d.latest_version}`)], ["versions", (d) => d.version_count], ["size", (d) => fmtBytes(d.total_bytes)], ["updated", (d) => fmtTime(d.updated_at)]], latest)
      : h("p", { class: "muted" }, "No datasets yet: loopml datasets push NAME PATH");
  });
  const runs = settle(api.items("/runs", { order_by: "start_time desc", limit: 8 }), (items) =>
    items.length ? runList(items) : h("p", { class: "muted" }, "No runs yet."));
  const production = settle(productionStatus(), (rows) =>
    rows.length
      ? table([["model", (r) => link(["models", r.model], r.model)], ["alias", (r) => r.alias], ["version", (r) => link(["models", r.model, r.version], `v${r.version}`)], ["monitor", (r) => r.monitor]], rows, { id: "production" })
      : h("p", { class: "muted" }, "No model has an alias yet."));
  const jobs = settle(api.items("/jobs", { limit: 8 }), (items) =>
    items.length
      ? table([["job", (j) => `#${j.id}`], ["trigger", (j) => link(["triggers", j.trigger], j.trigger)], ["status", (j) => badge(j.status)], ["queued", (j) => fmtTime(j.created_at)]], items)
      : h("p", { class: "muted" }, "No trigger has fired yet."));
  const deployments = settle(recentDeployments(8), (items) =>
    items.length ? deploymentTable(items) : h("p", { class: "muted" }, "No deployments yet."));
  const [d, r, p, j, dep] = await Promise.all([datasets, runs, production, jobs, deployments]);
  return [
    h("h1", null, "The loop at a glance"),
    h("div", { class: "grid" },
      section("Latest dataset versions", d),
      section("Recent runs", r, h("p", null, h("a", { href: "#/runs" }, "All runs →"))),
      section("Production", p),
      section("Recent trigger jobs", j),
      section("Recent deployments", dep)),
  ];
}

function runList(items) {
  return table([
    ["run", (run) => link(["runs", run.id], run.name || run.id)],
    ["experiment", (run) => run.experiment],
    ["status", (run) => badge(run.status)],
    ["started", (run) => fmtTime(run.start_time)],
  ], items);
}

async function productionStatus() {
  const models = await api.items("/models", { limit: 50 });
  let monitors = [];
  try {
    monitors = await api.items("/monitors");
  } catch {
    monitors = [];
  }
  const rows = [];
  for (const m of models) {
    for (const [alias, version] of Object.entries(m.aliases || {})) {
      const mon = monitors.find((x) => x.deployment === `${m.name}@${alias}`);
      rows.push({ model: m.name, alias, version, monitor: mon ? await monitorStatus(mon.deployment) : h("span", { class: "muted" }, "no monitor") });
    }
  }
  return rows;
}

async function monitorStatus(deployment) {
  try {
    const [latest] = await api.items(`/monitors/${seg(deployment)}/results`, { limit: 1 });
    if (!latest) return link(["monitors", deployment], "not run yet");
    const alerts = (latest.rules || []).filter((r) => r.fired).length;
    return h("span", null, link(["monitors", deployment], alerts ? `${alerts} alert(s)` : latest.status), " ", h("span", { class: "muted" }, fmtTime(latest.end)));
  } catch (err) {
    return errorBox(err);
  }
}

export async function recentDeployments(limit) {
  const models = await api.items("/models", { limit: 50 });
  const all = await Promise.all(models.map((m) => api.items(`/deployments/${seg(m.name)}/history`, { limit }).catch((err) => {
    if (err.unavailable) throw err;
    return [];
  })));
  return all.flat().sort((a, b) => (toEpoch(b.created_at) || 0) - (toEpoch(a.created_at) || 0)).slice(0, limit);
}

export function deploymentTable(items, extra) {
  const columns = [
    ["when", (d) => fmtTime(d.created_at)],
    ["target", (d) => `${d.model}@${d.alias}`],
    ["action", (d) => d.action],
    ["version", (d) => link(["models", d.model, d.version], `v${d.version}`)],
    ["previous", (d) => (d.previous_version == null ? "" : `v${d.previous_version}`)],
    ["status", (d) => badge(d.status)],
    ["gate", (d) => gateCell(d)],
    ["by", (d) => d.created_by],
  ];
  return table(extra ? columns.concat(extra) : columns, items, { class: "deployments" });
}

function gateCell(d) {
  const g = d.gate_result;
  if (!g) return d.gate || "";
  return h("div", null,
    h("div", null, badge(g.passed ? "passed" : "refused"), " ", g.expression || ""),
    (g.checks || []).map((c) => h("div", { class: "muted small" }, `${c.passed ? "✓" : "✗"} ${c.text}: ${fmtNum(c.candidate)} vs ${fmtNum(c.threshold)}`)),
    g.reason ? h("div", { class: "muted small" }, g.reason) : null);
}

// --- Runs table --------------------------------------------------------------------------

export async function runsPage(_args, query) {
  const state = {
    experiment: query.get("experiment") || "",
    filter: query.get("filter") || "",
    order: query.get("order") || "start_time desc",
  };
  let experiments = [];
  let expError = null;
  try {
    experiments = await api.items("/experiments", { limit: 1000 });
  } catch (err) {
    expError = err;
  }
  const select = h("select", { id: "experiment", name: "experiment" },
    h("option", { value: "" }, "all experiments"),
    experiments.map((e) => h("option", { value: e.name }, e.name)));
  select.value = state.experiment;
  const filter = h("input", { id: "filter", name: "filter", type: "search", value: state.filter, placeholder: "metrics.accuracy > 0.9 and params.model = 'rf'", spellcheck: "false" });
  const go = () => {
    location.hash = route(["runs"], { experiment: select.value, filter: filter.value.trim(), order: state.order });
  };
  const form = h("form", { class: "toolbar", id: "run-filter" }, select, filter, h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go();
  });
  const holder = h("div", { id: "runs-table" });
  const selected = new Set();
  const compareButton = h("button", { id: "compare", disabled: true }, "Compare selected");
  compareButton.addEventListener("click", () => {
    location.hash = route(["compare"], { runs: [...selected].join(",") });
  });
  const pager = { tokens: [null], index: 0 };
  const status = h("span", { class: "muted", id: "runs-status" });
  const prev = h("button", { id: "prev", disabled: true }, "← Previous");
  const next = h("button", { id: "next", disabled: true }, "Next →");

  async function load() {
    clear(holder).appendChild(h("p", { class: "muted" }, "Loading…"));
    try {
      const res = await api.page("/runs", {
        experiment: state.experiment, filter: state.filter, order_by: state.order,
        limit: PAGE_SIZE, page_token: pager.tokens[pager.index],
      });
      pager.tokens[pager.index + 1] = res.next;
      prev.disabled = pager.index === 0;
      next.disabled = !res.next;
      status.textContent = `runs ${pager.index * PAGE_SIZE + (res.items.length ? 1 : 0)}–${pager.index * PAGE_SIZE + res.items.length}${res.next ? "+" : ""}`;
      clear(holder).appendChild(runsTable(res.items, state, selected, () => {
        compareButton.disabled = selected.size < 2 || selected.size > 5;
        compareButton.textContent = `Compare selected (${selected.size})`;
      }));
      holder.setAttribute("data-loaded", String(Date.now()));
    } catch (err) {
      clear(holder).appendChild(errorBox(err));
    }
  }
  prev.addEventListener("click", () => {
    pager.index = Math.max(0, pager.index - 1);
    load();
  });
  next.addEventListener("click", () => {
    pager.index += 1;
    load();
  });
  await load();
  return [
    h("h1", null, "Experiments & runs"),
    expError ? errorBox(expError) : null,
    form,
    h("p", { class: "muted small" }, "Filter: comparisons on metrics.KEY, params.KEY, tags.KEY and name, status, start_time…, joined with and / or / not. Click a column to sort; pick 2–5 runs to compare."),
    h("div", { class: "toolbar" }, compareButton, prev, next, status),
    holder,
  ];
}

function runsTable(items, state, selected, changed) {
  if (!items.length) return h("p", { class: "muted" }, "No runs match.");
  const count = (key) => {
    const seen = new Map();
    for (const run of items) for (const k of Object.keys(run[key] || {})) seen.set(k, (seen.get(k) || 0) + 1);
    return [...seen.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
  };
  const metrics = count("metrics").slice(0, 8).sort();
  const params = count("params").slice(0, 6).sort();
  const [orderField, orderDir] = state.order.split(/\s+/);
  const sortable = (title, fieldName) => {
    const active = orderField === fieldName;
    const dir = active && orderDir === "desc" ? "asc" : "desc";
    const th = h("th", { class: ["sortable", active ? "sorted-" + (orderDir || "asc") : null], "data-field": fieldName, title: `sort by ${fieldName}` },
      title, active ? (orderDir === "desc" ? " ▼" : " ▲") : "");
    th.addEventListener("click", () => {
      location.hash = route(["runs"], { experiment: state.experiment, filter: state.filter, order: `${fieldName} ${dir}` });
    });
    return th;
  };
  const head = h("tr", null,
    h("th", null, ""),
    sortable("name", "name"), h("th", null, "experiment"), sortable("status", "status"),
    sortable("started", "start_time"), h("th", null, "duration"),
    metrics.map((k) => sortable(k, field("metrics", k))),
    params.map((k) => sortable(k, field("params", k))));
  const body = h("tbody", null, items.map((run) => {
    const box = h("input", { type: "checkbox", "aria-label": "select for comparison", checked: selected.has(run.id) });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(run.id);
      else selected.delete(run.id);
      changed();
    });
    return h("tr", { "data-run": run.id },
      h("td", null, box),
      h("td", { class: "run-name" }, link(["runs", run.id], run.name || run.id)),
      h("td", null, run.experiment),
      h("td", null, badge(run.status)),
      h("td", null, fmtTime(run.start_time)),
      h("td", null, elapsed(run)),
      metrics.map((k) => h("td", { class: "num", "data-metric": k }, fmtNum((run.metrics || {})[k]))),
      params.map((k) => h("td", null, (run.params || {})[k] ?? "")));
  }));
  return h("table", { class: "runs" }, h("thead", null, head), body);
}

// --- One run ------------------------------------------------------------------------------

async function metricSeries(runId, key) {
  const points = await api.items(`/runs/${seg(runId)}/metrics/${seg(key)}`, { limit: 1000 });
  return points.map((p) => [p.step, p.value]);
}

export async function runPage([id]) {
  const run = await api.get(`/runs/${seg(id)}`);
  const keys = Object.keys(run.metrics || {}).sort();
  // Charts are drawn as their histories arrive; a metric with one point has no curve to draw.
  const charts = h("div", { class: "charts", id: "metric-charts" });
  const curves = keys.filter((k) => ((run.metric_summaries || {})[k]?.count ?? 2) > 1).slice(0, 24);
  let pending = curves.length;
  if (!pending) charts.setAttribute("data-drawn", "1");
  for (const k of curves) {
    const slot = h("figure", { class: "chart pending" }, h("figcaption", null, k), h("p", { class: "muted" }, "Loading…"));
    charts.appendChild(slot);
    metricSeries(run.id, k).then(
      (pts) => slot.replaceWith(lineChart([{ name: k, points: pts }], { title: k })),
      (err) => slot.replaceWith(h("div", null, h("h3", null, k), errorBox(err))),
    ).finally(() => {
      pending -= 1;
      if (!pending) charts.setAttribute("data-drawn", "1");
    });
  }
  const artifacts = run.artifacts || [];
  return [
    h("h1", null, h("span", { class: "muted" }, "run "), h("span", { id: "run-name" }, run.name || run.id)),
    h("p", null, badge(run.status), " ", h("code", null, run.id), " in ", link(["runs"], run.experiment, { experiment: run.experiment }),
      " · started ", fmtTime(run.start_time), run.end_time ? ` · took ${elapsed(run)}` : "", " · by ", run.created_by || "",
      run.parent_run_id ? [" · parent ", link(["runs", run.parent_run_id], run.parent_run_id)] : null),
    run.error ? h("pre", { class: "error" }, run.error) : null,
    h("p", null, link(["compare"], "Compare with other runs", { runs: run.id }), " (select them in the ", link(["runs"], "runs table"), ")"),
    h("div", { class: "grid" },
      section("Params", kvTable(run.params, "no params")),
      section("Metrics (latest)", kvTable(run.metrics, "no metrics")),
      section("Tags", kvTable(run.tags, "no tags")),
      section("Inputs", (run.inputs || []).length ? h("ul", null, run.inputs.map((r) => h("li", null, datasetRefLink(r)))) : h("p", { class: "muted" }, "no dataset inputs")),
      section("Code version", kvTable(run.code, "not recorded")),
      section("Artifacts", artifacts.length
        ? table([["path", (a) => h("a", { href: `/api/v1/runs/${seg(run.id)}/artifacts/${a.path.split("/").map(seg).join("/")}`, download: "" }, a.path)], ["size", (a) => fmtBytes(a.size)]], artifacts)
        : h("p", { class: "muted" }, "no artifacts"))),
    section("Metric charts", curves.length ? charts : h("p", { class: "muted" }, "No metric has more than one point.")),
  ];
}

// --- Compare ------------------------------------------------------------------------------

export async function comparePage(_args, query) {
  const ids = (query.get("runs") || "").split(",").filter(Boolean).slice(0, 5);
  if (ids.length < 2) {
    return [h("h1", null, "Compare runs"), h("p", null, "Pick 2 to 5 runs in the ", link(["runs"], "runs table"), " and press Compare.")];
  }
  const runs = await Promise.all(ids.map((id) => api.get(`/runs/${seg(id)}`)));
  const label = (run) => `${run.name || run.id} (${run.id.slice(0, 8)})`;
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.params || {})))].sort();
  const differs = (k) => new Set(runs.map((r) => (r.params || {})[k] ?? "\u0000")).size > 1;
  const onlyDiff = h("input", { type: "checkbox", id: "only-diff" });
  const paramsHolder = h("div");
  const drawParams = () => {
    const keys = onlyDiff.checked ? paramKeys.filter(differs) : paramKeys;
    clear(paramsHolder).appendChild(keys.length
      ? h("table", { class: "compare" },
        h("thead", null, h("tr", null, h("th", null, "param"), runs.map((r) => h("th", null, link(["runs", r.id], label(r)))))),
        h("tbody", null, keys.map((k) => h("tr", { class: differs(k) ? "differs" : null }, h("td", null, k), runs.map((r) => h("td", null, (r.params || {})[k] ?? "—"))))))
      : h("p", { class: "muted" }, "No params differ."));
  };
  onlyDiff.addEventListener("change", drawParams);
  drawParams();
  const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics || {})))].sort();
  const metricsTable = h("table", { class: "compare" },
    h("thead", null, h("tr", null, h("th", null, "metric"), runs.map((r) => h("th", null, label(r))))),
    h("tbody", null, metricKeys.map((k) => h("tr", null, h("td", null, k), runs.map((r) => h("td", { class: "num" }, fmtNum((r.metrics || {})[k])))))));
  // Each metric's chart is drawn as soon as its histories arrive, in metric order (the browser
  // queues the requests in that order too); data-drawn marks the last one.
  const charts = h("div", { class: "charts", id: "compare-charts" });
  const keys = metricKeys.slice(0, 24);
  let pending = keys.length;
  const finished = () => {
    pending -= 1;
    if (pending <= 0) charts.setAttribute("data-drawn", "1");
  };
  if (!keys.length) charts.setAttribute("data-drawn", "1");
  for (const k of keys) {
    const slot = h("figure", { class: "chart pending" }, h("figcaption", null, k), h("p", { class: "muted" }, "Loading…"));
    charts.appendChild(slot);
    const having = runs.filter((r) => k in (r.metrics || {}));
    Promise.all(having.map(async (r) => ({ name: label(r), points: await metricSeries(r.id, k) }))).then(
      (lines) => slot.replaceWith(lineChart(lines, { title: k })),
      (err) => slot.replaceWith(h("div", null, h("h3", null, k), errorBox(err))),
    ).finally(finished);
  }
  return [
    h("h1", null, `Compare ${runs.length} runs`),
    section("Params", h("label", { class: "small" }, onlyDiff, " only params that differ"), paramsHolder),
    section("Metrics (latest)", metricsTable),
    section("Metrics over steps", charts),
  ];
}
