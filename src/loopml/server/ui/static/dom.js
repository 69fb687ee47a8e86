// Building the page without ever parsing data as HTML: every text goes through textContent
// (createTextNode), every attribute through setAttribute, and links only to this app.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

function safeHref(value) {
  const text = String(value);
  // Only in-app routes and this server's API: never javascript:, data: or another origin.
  if (text.startsWith("#") || (text.startsWith("/") && !text.startsWith("//"))) return text;
  return "#/";
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "href") {
      el.setAttribute("href", safeHref(value));
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/** An HTML element: h("a", {href: "#/runs"}, "runs", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, same shape as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A route link: link(["runs", id], "text") → href "#/runs/<id, encoded>". */
export function link(parts, text, query) {
  return h("a", { href: route(parts, query) }, text);
}

export function route(parts, query) {
  let out = "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
    }
    const text = q.toString();
    if (text) out += "?" + text;
  }
  return out;
}

/** Seconds since the epoch (or an ISO string) as "2026-12-04 05:17:00" in UTC. */
export function fmtTime(value) {
  if (value === null || value === undefined || value === "") return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").slice(0, 19);
}

export function toEpoch(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t / 1000;
}

export function fmtNum(value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

export function fmtSeconds(value) {
  if (value === null || value === undefined) return "";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** A table: columns are [title, (row) => cell] pairs; a cell is text or a node. */
export function table(columns, rows, attrs) {
  const head = h("thead", null, h("tr", null, columns.map(([title]) => h("th", null, title))));
  const body = h(
    "tbody",
    null,
    rows.map((row) => h("tr", null, columns.map(([, cell]) => h("td", null, cell(row))))),
  );
  return h("table", attrs || null, head, body);
}

/** Key/value pairs of an object as a two-column table (sorted by key). */
export function kvTable(obj, emptyText) {
  const entries = Object.entries(obj || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (!entries.length) return h("p", { class: "muted" }, emptyText || "none");
  return table(
    [
      ["key", ([k]) => k],
      ["value", ([, v]) => (typeof v === "object" && v !== null ? JSON.stringify(v) : fmtNum(v))],
    ],
    entries,
    { class: "kv" },
  );
}

export function badge(status) {
  const text = String(status ?? "");
  return h("span", { class: ["badge", "st-" + text.replace(/[^a-z_]/g, "")] }, text);
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", null, title), children);
}
