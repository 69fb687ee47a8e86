// Pipelines (runs, DAG, logs), deployments (history, rollback), monitoring, triggers and jobs.

import { api, seg } from "./api.js";
import { dagChart, histogramChart, lineChart } from "./chart.js";
import { badge, clear, fmtNum, fmtSeconds, fmtTime, h, kvTable, link, section, table, toEpoch } from "./dom.js";
import { errorBox, render } from "./app.js";
import { deploymentTable } from "./runs.js";
import { canWrite, isAdmin } from "./session.js";

// --- Pipelines ----------------------------------------------------------------------------

export async function pipelinesPage() {
  const items = await api.items("/pipelines/runs", { limit: 200 });
  return [
    h("h1", null, "Pipelines"),
    items.length
      ? table([
        ["run", (r) => link(["pipelines", r.id], r.id.slice(0, 12))],
        ["pipeline", (r) => r.pipeline],
        ["status", (r) => badge(r.status)],
        ["steps", (r) => Object.entries(r.step_counts || counts(r.steps)).map(([k, v]) => `${v} ${k}`).join(", ")],
        ["executor", (r) => r.executor],
        ["started", (r) => fmtTime(r.start_time)],
        ["took", (r) => took(r)],
      ], items, { id: "pipeline-runs" })
      : h("p", { class: "muted" }, "No pipeline runs yet."),
  ];
}

function counts(steps) {
  const out = {};
  for (const st of steps || []) out[st.status] = (out[st.status] || 0) + 1;
  return out;
}

function took(r) {
  if (r.elapsed_s != null) return fmtSeconds(r.elapsed_s);
  const a = toEpoch(r.start_time);
  const b = toEpoch(r.end_time);
  return a != null && b != null ? fmtSeconds(b - a) : "";
}

export async function pipelineRunPage([id]) {
  const run = await api.get(`/pipelines/runs/${seg(id)}`);
  const steps = run.steps || [];
  const detail = h("div", { id: "step-detail" }, h("p", { class: "muted" }, "Click a step to see its logs."));
  const show = async (st) => {
    clear(detail).appendChild(h("h3", null, `Step ${st.name}`));
    detail.appendChild(kvTable({ status: st.status, function: st.func, cache_key: st.cache_key, cached_from: st.cached_from, worker: st.worker, started: fmtTime(st.start_time), took: took(st) }));
    if (st.error) detail.appendChild(h("pre", { class: "error" }, st.error));
    let logs = st.stdout != null || st.stderr != null ? { stdout: st.stdout, stderr: st.stderr } : null;
    if (!logs) {
      try {
        logs = await api.get(`/pipelines/runs/${seg(run.id)}/steps/${seg(st.name)}/log`);
      } catch (err) {
        detail.appendChild(errorBox(err));
        return;
      }
    }
    const text = typeof logs === "string" ? logs : null;
    if (text !== null) detail.appendChild(h("pre", { class: "log" }, text || "(empty)"));
    else {
      detail.appendChild(h("h4", null, "stdout"), h("pre", { class: "log" }, logs.stdout || "(empty)"));
      detail.appendChild(h("h4", null, "stderr"), h("pre", { class: "log" }, logs.stderr || "(empty)"));
    }
  };
  return [
    h("h1", null, h("span", { class: "muted" }, "pipeline run "), `${run.pipeline} `, h("code", null, run.id.slice(0, 12))),
    h("p", null, badge(run.status), ` · ${run.executor} · started ${fmtTime(run.start_time)} · took ${took(run)} · by ${run.created_by}`,
      run.resumed_from ? [" · resumed from ", link(["pipelines", run.resumed_from], run.resumed_from.slice(0, 12))] : null,
      " · ", link(["runs", run.id], "tracked run")),
    run.error ? h("pre", { class: "error" }, run.error) : null,
    section("Steps", steps.length ? dagChart(steps, { onSelect: show }) : h("p", { class: "muted" }, "no steps"),
      table([
        ["step", (st) => { const b = h("button", { class: "link" }, st.name); b.addEventListener("click", () => show(st)); return b; }],
        ["status", (st) => badge(st.status)],
        ["took", (st) => took(st)],
        ["cache", (st) => (st.cached_from ? `from ${st.cached_from.slice(0, 12)}` : st.cache_key ? "computed" : "")],
        ["upstream", (st) => (st.upstream || []).join(", ")],
        ["error", (st) => (st.error ? String(st.error).split("\n")[0].slice(0, 120) : "")],
      ], steps), detail),
    section("Params", kvTable(run.params, "no params")),
  ];
}

// --- Deployments --------------------------------------------------------------------------

export async function deploymentsPage() {
  const models = await api.items("/models", { limit: 1000 });
  const withAliases = models.filter((m) => Object.keys(m.aliases || {}).length);
  const out = [h("h1", null, "Deployments")];
  if (!models.length) return out.concat(h("p", { class: "muted" }, "No models registered yet."));
  const histories = await Promise.all(models.map((m) => api.items(`/deployments/${seg(m.name)}/history`, { limit: 100 }).then((x) => x, (err) => err)));
  let shown = 0;
  models.forEach((m, i) => {
    const hist = histories[i];
    if (!(hist instanceof Error) && !hist.length && !withAliases.includes(m)) return;
    shown += 1;
    const aliases = Object.entries(m.aliases || {});
    const serving = aliases.length
      ? table([
        ["alias", ([a]) => a],
        ["serves", ([, v]) => link(["models", m.name, v], `${m.name}@${v}`)],
        ["", ([a]) => (isAdmin() ? rollbackButton(m.name, a) : null)],
      ], aliases, { class: "serving" })
      : h("p", { class: "muted" }, "no aliases");
    out.push(section(m.name, serving, hist instanceof Error ? errorBox(hist) : hist.length ? deploymentTable(hist) : h("p", { class: "muted" }, "no deployments recorded")));
  });
  if (!shown) out.push(h("p", { class: "muted" }, "No model has been deployed yet (loopml deploy MODEL)."));
  return out;
}

function rollbackButton(model, alias) {
  const button = h("button", { class: "danger rollback write", "data-target": `${model}@${alias}` }, "Roll back");
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Confirm: roll ${model}@${alias} back`;
      return;
    }
    button.disabled = true;
    try {
      await api.post(`/deployments/${seg(model)}/rollback`, { to: alias });
      render();
    } catch (err) {
      button.replaceWith(errorBox(err));
    }
  });
  return button;
}

// --- Monitoring ---------------------------------------------------------------------------

export async function monitorsPage() {
  const items = await api.items("/monitors");
  const latest = await Promise.all(items.map((m) => api.items(`/monitors/${seg(m.deployment)}/results`, { limit: 1 }).then((r) => r[0] || null, () => null)));
  return [
    h("h1", null, "Monitoring"),
    items.length
      ? table([
        ["deployment", ([m]) => link(["monitors", m.deployment], m.deployment)],
        ["reference", ([m]) => m.reference || "training data"],
        ["window", ([m]) => fmtSeconds(m.window_s)],
        ["every", ([m]) => (m.every_s ? fmtSeconds(m.every_s) : "by hand")],
        ["rules", ([m]) => (m.rules || []).join("; ")],
        ["latest", ([, r]) => (r ? [badge(r.status), " ", fmtTime(r.end)] : h("span", { class: "muted" }, "not run"))],
        ["alerts", ([, r]) => (r ? (r.rules || []).filter((x) => x.fired).map((x) => x.rule).join("; ") : "")],
      ], items.map((m, i) => [m, latest[i]]), { id: "monitors" })
      : h("p", { class: "muted" }, "No monitors yet: loopml monitor add MODEL@ALIAS"),
  ];
}

export async function monitorPage([deployment]) {
  const spec = await api.get(`/monitors/${seg(deployment)}`);
  const results = (await api.items(`/monitors/${seg(deployment)}/results`, { limit: 200 })).sort((a, b) => a.end - b.end);
  const withDrift = results.filter((r) => r.drift);
  const charts = h("div", { class: "charts" });
  if (withDrift.length) {
    charts.appendChild(lineChart([{ name: "drifted share of features", points: withDrift.map((r) => [r.end, r.drift.drifted_share]) }], { title: "Drifted share of features", xKind: "time" }));
  }
  const quality = new Map();
  for (const r of results) {
    for (const [k, v] of Object.entries(r.quality?.metrics || {})) (quality.get(k) || quality.set(k, []).get(k)).push([r.end, v, "realized"]);
    for (const [k, v] of Object.entries(r.estimate?.metrics || {})) (quality.get(k) || quality.set(k, []).get(k)).push([r.end, v, "estimated"]);
  }
  for (const [k, pts] of quality) {
    const series = ["realized", "estimated"].map((kind) => ({ name: kind, points: pts.filter((p) => p[2] === kind).map(([x, y]) => [x, y]) })).filter((x) => x.points.length);
    charts.appendChild(lineChart(series, { title: `Quality: ${k}`, xKind: "time" }));
  }
  const last = withDrift[withDrift.length - 1];
  const features = last ? [...last.drift.columns, ...(last.drift.prediction ? [last.drift.prediction] : [])] : [];
  const featureCharts = h("div", { class: "charts" });
  for (const c of features) {
    const over = withDrift.map((r) => [r.end, ((r.drift.columns || []).concat(r.drift.prediction || []).find((x) => x.column === c.column) || {}).statistic]).filter(([, y]) => y != null);
    featureCharts.appendChild(h("div", { class: "feature" },
      h("h3", null, c.column, " ", c.drifted === true ? badge("drifted") : c.drifted === false ? badge("ok") : badge(c.status)),
      h("p", { class: "muted small" }, `${c.test}: statistic ${fmtNum(c.statistic)}${c.p_value != null ? `, p ${fmtNum(c.p_value)}` : ""}, threshold ${fmtNum(c.threshold)}${c.note ? " · " + c.note : ""}`),
      c.histogram ? histogramChart(c.histogram, { title: "reference vs current (latest window)" }) : null,
      over.length > 1 ? lineChart([{ name: `${c.test} statistic`, points: over }], { title: "statistic over time", xKind: "time", width: 420, height: 180 }) : null));
  }
  return [
    h("h1", null, h("span", { class: "muted" }, "monitor "), deployment),
    h("p", null, `reference ${spec.reference || "training data"} · window ${fmtSeconds(spec.window_s)} · ${spec.every_s ? "every " + fmtSeconds(spec.every_s) : "run by hand"}`),
    (spec.rules || []).length ? h("p", null, "rules: ", spec.rules.join("; ")) : null,
    results.length ? null : h("p", { class: "muted" }, "No results yet: loopml monitor run " + deployment),
    section("Over time", charts),
    features.length ? section("Features (latest window)", featureCharts) : null,
    results.length ? section("Windows", table([
      ["window", (r) => `${fmtTime(r.start)} – ${fmtTime(r.end)}`],
      ["status", (r) => badge(r.status)],
      ["version", (r) => (r.served_version != null ? `v${r.served_version}` : "")],
      ["rows", (r) => r.rows],
      ["drifted", (r) => (r.drift ? (r.drift.columns || []).filter((c) => c.drifted).map((c) => c.column).join(", ") : "")],
      ["alerts", (r) => (r.rules || []).filter((x) => x.fired).map((x) => x.rule).join("; ")],
      ["note", (r) => r.note || ""],
    ], [...results].reverse().slice(0, 100))) : null,
  ];
}

// --- Triggers and jobs ----------------------------------------------------------------------

export async function triggersPage() {
  const [triggers, jobs] = await Promise.all([
    api.items("/triggers").then((x) => x, (err) => err),
    api.items("/jobs", { limit: 100 }).then((x) => x, (err) => err),
  ]);
  return [
    h("h1", null, "Triggers & jobs"),
    section("Triggers", triggers instanceof Error ? errorBox(triggers) : triggers.length
      ? table([
        ["name", (t) => link(["triggers", t.spec.name], t.spec.name)],
        ["on", (t) => t.spec.on],
        ["action", (t) => t.spec.action],
        ["enabled", (t) => (t.enabled ? "yes" : "no")],
        ["last fired", (t) => fmtTime(t.last_fired_at)],
        ["by", (t) => t.created_by],
      ], triggers, { id: "triggers" })
      : h("p", { class: "muted" }, "No triggers yet: loopml trigger add NAME --on … --action …")),
    section("Job queue", jobs instanceof Error ? errorBox(jobs) : jobsTable(jobs)),
  ];
}

function jobsTable(jobs) {
  if (!jobs.length) return h("p", { class: "muted" }, "No jobs.");
  return table([
    ["job", (j) => `#${j.id}`],
    ["trigger", (j) => link(["triggers", j.trigger], j.trigger)],
    ["action", (j) => j.action],
    ["status", (j) => badge(j.status)],
    ["attempts", (j) => `${j.attempts}/${j.max_attempts}`],
    ["queued", (j) => fmtTime(j.created_at)],
    ["took", (j) => (j.started_at && j.ended_at ? fmtSeconds(j.ended_at - j.started_at) : "")],
    ["run", (j) => (j.run_id ? link(["runs", j.run_id], j.run_id.slice(0, 8)) : "")],
    ["error", (j) => (j.error ? String(j.error).split("\n")[0].slice(0, 120) : "")],
    ["", (j) => (canWrite() && (j.status === "queued" || j.status === "running") ? action("Cancel", () => api.post(`/jobs/${seg(j.id)}/cancel`)) : null)],
  ], jobs, { class: "jobs" });
}

export async function triggerPage([name]) {
  const [t, firings, jobs] = await Promise.all([
    api.get(`/triggers/${seg(name)}`),
    api.items(`/triggers/${seg(name)}/firings`, { limit: 100 }),
    api.items("/jobs", { trigger: name, limit: 100 }).catch(() => []),
  ]);
  return [
    h("h1", null, h("span", { class: "muted" }, "trigger "), t.spec.name),
    isAdmin() ? h("div", { class: "toolbar" },
      t.enabled ? action("Disable", () => api.post(`/triggers/${seg(name)}/disable`)) : action("Enable", () => api.post(`/triggers/${seg(name)}/enable`)),
      action("Fire now", () => api.post(`/triggers/${seg(name)}/fire`, {}))) : null,
    h("div", { class: "grid" },
      section("Definition", kvTable({ on: t.spec.on, action: t.spec.action, executor: t.spec.executor, enabled: t.enabled ? "yes" : "no", cooldown_s: t.spec.cooldown_s, max_concurrent: t.spec.max_concurrent, retries: t.spec.retries })),
      section("Params", kvTable(t.spec.params, "no params"))),
    section("Firings", firings.length
      ? table([
        ["when", (f) => fmtTime(f.created_at)],
        ["event", (f) => f.event_key],
        ["job", (f) => (f.job_id != null ? `#${f.job_id}` : "")],
        ["status", (f) => (f.status ? badge(f.status) : "")],
        ["run", (f) => (f.run_id ? link(["runs", f.run_id], f.run_id.slice(0, 8)) : "")],
      ], firings)
      : h("p", { class: "muted" }, "Not fired yet.")),
    section("Jobs", jobsTable(jobs)),
  ];
}

/** A write button: runs ``call``, then redraws the page (or shows why it was refused). */
function action(title, call) {
  const button = h("button", { class: "write" }, title);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await call();
      render();
    } catch (err) {
      button.replaceWith(errorBox(err));
    }
  });
  return button;
}
