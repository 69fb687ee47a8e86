// Datasets (versions, files, schema, statistics, diff) and models (versions, aliases, lineage).

import { api, seg } from "./api.js";
import { badge, fmtBytes, fmtNum, fmtTime, h, kvTable, link, route, section, table } from "./dom.js";
import { errorBox, render } from "./app.js";
import { datasetRefLink, deploymentTable } from "./runs.js";
import { canWrite } from "./session.js";

// --- Datasets -----------------------------------------------------------------------------

export async function datasetsPage() {
  const items = await api.items("/datasets", { limit: 1000 });
  return [
    h("h1", null, "Datasets"),
    items.length
      ? table([
        ["name", (d) => link(["datasets", d.name], d.name)],
        ["latest", (d) => link(["datasets", d.name, d.latest_version], `v${d.latest_version}`)],
        ["versions", (d) => d.version_count],
        ["size", (d) => fmtBytes(d.total_bytes)],
        ["updated", (d) => fmtTime(d.updated_at)],
      ], items, { id: "datasets" })
      : h("p", { class: "muted" }, "No datasets yet: loopml datasets push NAME PATH"),
  ];
}

export async function datasetPage([name]) {
  const versions = await api.items(`/datasets/${seg(name)}/versions`, { limit: 1000 });
  const sorted = [...versions].sort((a, b) => b.version - a.version);
  const pick = (id, chosen) => h("select", { id }, sorted.map((v) => h("option", { value: v.version, selected: v.version === chosen }, `v${v.version}`)));
  const a = pick("diff-a", sorted.length > 1 ? sorted[1].version : sorted[0]?.version);
  const b = pick("diff-b", sorted[0]?.version);
  const form = h("form", { class: "toolbar" }, "Diff ", a, " → ", b, h("button", { type: "submit" }, "Show diff"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = route(["datasets", name, "diff"], { a: a.value, b: b.value });
  });
  return [
    h("h1", null, h("span", { class: "muted" }, "dataset "), name),
    sorted.length > 1 ? form : null,
    table([
      ["version", (v) => link(["datasets", name, v.version], `v${v.version}`)],
      ["message", (v) => v.message || ""],
      ["kind", (v) => v.kind],
      ["files", (v) => v.file_count],
      ["size", (v) => fmtBytes(v.total_bytes)],
      ["metadata", (v) => Object.entries(v.meta || {}).map(([k, x]) => `${k}=${x}`).join(", ")],
      ["by", (v) => v.created_by],
      ["when", (v) => fmtTime(v.created_at)],
    ], sorted, { id: "dataset-versions" }),
  ];
}

function statsTables(stats) {
  const tables = (stats && stats.tables) || {};
  const out = [];
  for (const [path, t] of Object.entries(tables)) {
    if (t.error) {
      out.push(h("h3", null, path), h("p", { class: "muted" }, t.error));
      continue;
    }
    out.push(h("h3", null, `${path} · ${t.format || ""} · ${fmtNum(t.rows)} rows`));
    out.push(table([
      ["column", (c) => c.name],
      ["type", (c) => c.dtype],
      ["nulls", (c) => fmtNum(c.nulls)],
      ["distinct", (c) => fmtNum(c.distinct)],
      ["min", (c) => fmtNum(c.min)],
      ["max", (c) => fmtNum(c.max)],
      ["mean", (c) => fmtNum(c.mean)],
      ["std", (c) => fmtNum(c.std)],
      ["top", (c) => (c.top || []).slice(0, 3).map((x) => (Array.isArray(x) ? `${x[0]} (${x[1]})` : typeof x === "object" ? `${x.value} (${x.count})` : String(x))).join(", ")],
    ], t.columns || [], { class: "stats" }));
  }
  return out.length ? out : [h("p", { class: "muted" }, stats && stats.skipped ? `statistics skipped: ${stats.skipped}` : "No tabular files (CSV, Parquet) to describe.")];
}

export async function datasetVersionPage([name, n]) {
  const v = await api.get(`/datasets/${seg(name)}/versions/${seg(n)}`);
  const files = v.files || [];
  return [
    h("h1", null, h("span", { class: "muted" }, "dataset "), `${v.name}@${v.version}`),
    h("p", null, v.message || h("span", { class: "muted" }, "no message"), " · ", fmtBytes(v.total_bytes), ` · ${v.file_count} file(s) · by ${v.created_by} · ${fmtTime(v.created_at)}`,
      v.parent_version ? [" · ", link(["datasets", name, "diff"], `diff with v${v.parent_version}`, { a: v.parent_version, b: v.version })] : null),
    h("div", { class: "grid" },
      section("Metadata", kvTable(v.meta, "no metadata")),
      section("Content", kvTable({ kind: v.kind, digest: v.content_digest, parent: v.parent_version }))),
    section("Files", files.length
      ? table([
        ["path", (f) => h("a", { href: `/api/v1/datasets/${seg(name)}/versions/${seg(n)}/files/${f.path.split("/").map(seg).join("/")}`, download: "" }, f.path)],
        ["size", (f) => fmtBytes(f.size)],
        ["digest", (f) => h("code", null, String(f.digest).slice(0, 16))],
      ], files.slice(0, 500))
      : h("p", { class: "muted" }, "no files listed")),
    section("Schema and statistics", statsTables(v.stats)),
  ];
}

export async function datasetDiffPage([name], query) {
  const a = query.get("a");
  const b = query.get("b");
  const d = await api.get("/datasets/diff", { a: `${name}@${a}`, b: `${name}@${b}` });
  const list = (items, fmt) => (items && items.length ? h("ul", null, items.map((x) => h("li", null, fmt(x)))) : h("p", { class: "muted" }, "none"));
  const tables = Object.entries(d.tables || {}).map(([path, t]) => section(`Table ${path}`,
    h("p", null, `rows: ${fmtNum(t.rows?.old)} → ${fmtNum(t.rows?.new)}`, t.rows?.change != null ? ` (${t.rows.change >= 0 ? "+" : ""}${t.rows.change})` : ""),
    h("p", null, "columns added: ", (t.columns_added || []).join(", ") || "none", " · removed: ", (t.columns_removed || []).join(", ") || "none"),
    (t.dtype_changes || []).length ? table([["column", (c) => c.column], ["type before", (c) => c.old], ["type after", (c) => c.new]], t.dtype_changes) : null,
    (t.column_changes || []).length ? table([["column", (c) => c.column], ["statistic", (c) => c.stat], ["before", (c) => fmtNum(c.old)], ["after", (c) => fmtNum(c.new)]], t.column_changes) : null));
  return [
    h("h1", null, `Diff ${d.from || a} → ${d.to || b}`),
    d.identical ? h("p", null, "The two versions hold identical content.") : null,
    h("div", { class: "grid" },
      section("Files added", list(d.files_added, (f) => `${f.path} (${fmtBytes(f.size)})`)),
      section("Files removed", list(d.files_removed, (f) => `${f.path} (${fmtBytes(f.size)})`)),
      section("Files changed", list(d.files_changed, (f) => `${f.path} (${fmtBytes(f.old_size)} → ${fmtBytes(f.new_size)})`)),
      section("Size", h("p", null, `${fmtBytes(d.bytes?.old)} → ${fmtBytes(d.bytes?.new)}`))),
    tables,
    (d.notes || []).map((n) => h("p", { class: "muted" }, n)),
  ];
}

// --- Models -------------------------------------------------------------------------------

export async function modelsPage() {
  const items = await api.items("/models", { limit: 1000 });
  return [
    h("h1", null, "Models"),
    items.length
      ? table([
        ["name", (m) => link(["models", m.name], m.name)],
        ["latest", (m) => link(["models", m.name, m.latest_version], `v${m.latest_version}`)],
        ["versions", (m) => m.version_count],
        ["aliases", (m) => aliasList(m.name, m.aliases)],
        ["description", (m) => m.description || ""],
        ["updated", (m) => fmtTime(m.updated_at)],
      ], items, { id: "models" })
      : h("p", { class: "muted" }, "No models registered yet."),
  ];
}

function aliasList(name, aliases) {
  return Object.entries(aliases || {}).map(([alias, v]) => h("span", { class: "alias" }, `${alias} → `, link(["models", name, v], `v${v}`)));
}

export async function modelPage([name]) {
  const versions = await api.items(`/models/${seg(name)}/versions`, { limit: 1000 });
  const sorted = [...versions].sort((a, b) => b.version - a.version);
  const metricKeys = [...new Set(sorted.flatMap((v) => Object.keys(v.metrics || {})))].sort().slice(0, 8);
  return [
    h("h1", null, h("span", { class: "muted" }, "model "), name),
    table([
      ["version", (v) => link(["models", name, v.version], `v${v.version}`)],
      ["aliases", (v) => (v.aliases || []).map((a) => h("span", { class: "alias" }, a))],
      ["flavor", (v) => v.flavor],
      ...metricKeys.map((k) => [k, (v) => fmtNum((v.metrics || {})[k])]),
      ["run", (v) => (v.run_id ? link(["runs", v.run_id], v.run_id.slice(0, 8)) : "")],
      ["datasets", (v) => (v.datasets || []).map((r) => h("span", { class: "alias" }, datasetRefLink(r)))],
      ["by", (v) => v.created_by],
      ["when", (v) => fmtTime(v.created_at)],
    ], sorted, { id: "model-versions" }),
  ];
}

export async function modelVersionPage([name, n]) {
  const v = await api.get(`/models/${seg(name)}/versions/${seg(n)}`);
  const version = Number(n);
  const history = await api.items(`/deployments/${seg(name)}/history`, { limit: 200 }).then(
    (items) => items.filter((d) => d.version === version),
    (err) => err,
  );
  let monitors = [];
  try {
    monitors = (await api.items("/monitors")).filter((m) => String(m.deployment).startsWith(`${name}@`));
  } catch (err) {
    monitors = err;
  }
  let results = [];
  if (Array.isArray(monitors)) {
    const all = await Promise.all(monitors.map((m) => api.items(`/monitors/${seg(m.deployment)}/results`, { limit: 100 }).catch(() => [])));
    results = all.flat().filter((r) => r.served_version === version || (r.versions || []).includes(version));
  }
  const run = v.run_id ? await api.get(`/runs/${seg(v.run_id)}`).catch(() => null) : null;
  const chain = h("ol", { class: "lineage", id: "lineage" },
    h("li", null, h("strong", null, "Data "), (v.datasets || []).length ? (v.datasets || []).map((r) => h("span", { class: "alias" }, datasetRefLink(r))) : h("span", { class: "muted" }, "not recorded")),
    h("li", null, h("strong", null, "Run "), v.run_id ? [link(["runs", v.run_id], run ? run.name || v.run_id : v.run_id), run ? [" ", badge(run.status)] : null] : h("span", { class: "muted" }, "not recorded")),
    h("li", null, h("strong", null, "Model "), `${name}@${version}`, " ", (v.aliases || []).map((a) => h("span", { class: "alias" }, a))),
    h("li", null, h("strong", null, "Deployments "), history instanceof Error ? errorBox(history) : history.length ? `${history.length} (latest ${history[0].status} to ${history[0].alias})` : h("span", { class: "muted" }, "none")),
    h("li", null, h("strong", null, "Monitoring "), monitors instanceof Error ? errorBox(monitors) : results.length ? `${results.length} window(s), ${results.filter((r) => (r.rules || []).some((x) => x.fired)).length} with alerts` : h("span", { class: "muted" }, "no results for this version")));
  return [
    h("h1", null, h("span", { class: "muted" }, "model "), `${name}@${version}`),
    h("p", null, v.description || "", ` flavor ${v.flavor} · by ${v.created_by} · ${fmtTime(v.created_at)}`),
    canWrite() ? aliasForm(name, version, v.aliases || []) : null,
    section("Lineage", chain),
    h("div", { class: "grid" },
      section("Metrics", kvTable(v.metrics, "no metrics")),
      section("Params", kvTable(v.params, "no params")),
      section("Tags", kvTable(v.tags, "no tags")),
      section("Signature", v.signature ? h("pre", null, JSON.stringify(v.signature, null, 2)) : h("p", { class: "muted" }, "none")),
      section("Files", table([["path", (f) => f.path], ["size", (f) => fmtBytes(f.size)]], v.files || []))),
    history instanceof Error ? null : section("Deployments of this version", history.length ? deploymentTable(history) : h("p", { class: "muted" }, "none")),
    results.length ? section("Monitor windows", table([["monitor", (r) => link(["monitors", r.monitor], r.monitor)], ["window", (r) => `${fmtTime(r.start)} – ${fmtTime(r.end)}`], ["status", (r) => badge(r.status)], ["rows", (r) => r.rows], ["alerts", (r) => (r.rules || []).filter((x) => x.fired).map((x) => x.rule).join(", ")]], results.slice(0, 50))) : null,
  ];
}

/** Writers point an alias at this version or remove one of its aliases. */
function aliasForm(name, version, aliases) {
  const input = h("input", { id: "alias-name", placeholder: "alias, e.g. staging", required: true, pattern: "[A-Za-z0-9_.-]+" });
  const message = h("span", { class: "muted" });
  const form = h("form", { class: "toolbar", id: "alias-form" }, "Point alias ", input, ` at v${version} `,
    h("button", { type: "submit", class: "write" }, "Set alias"), message,
    aliases.map((alias) => {
      const b = h("button", { type: "button", class: "write" }, `Remove ${alias}`);
      b.addEventListener("click", () => change(() => api.del(`/models/${seg(name)}/aliases/${seg(alias)}`)));
      return b;
    }));
  const change = async (call) => {
    try {
      await call();
      render();
    } catch (err) {
      message.replaceChildren(errorBox(err));
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    change(() => api.put(`/models/${seg(name)}/aliases/${seg(input.value.trim())}`, { version }));
  });
  return form;
}
