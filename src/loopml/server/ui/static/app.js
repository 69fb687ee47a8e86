// The single-page app: a hash router, the session (role) and the page frame. Each page is an
// async function (params, query) returning nodes; pages live in runs.js, registry.js, ops.js.

import { api, ApiError, whenUnauthorized } from "./api.js";
import { clear, h } from "./dom.js";
import { homePage, runsPage, runPage, comparePage } from "./runs.js";
import { datasetsPage, datasetPage, datasetVersionPage, datasetDiffPage, modelsPage, modelPage, modelVersionPage } from "./registry.js";
import { pipelinesPage, pipelineRunPage, deploymentsPage, monitorsPage, monitorPage, triggersPage, triggerPage } from "./ops.js";
import { session, loadSession } from "./session.js";

const ROUTES = [
  [/^$/, homePage],
  [/^datasets$/, datasetsPage],
  [/^datasets\/([^/]+)$/, datasetPage],
  [/^datasets\/([^/]+)\/diff$/, datasetDiffPage],
  [/^datasets\/([^/]+)\/(\d+)$/, datasetVersionPage],
  [/^runs$/, runsPage],
  [/^runs\/([^/]+)$/, runPage],
  [/^compare$/, comparePage],
  [/^models$/, modelsPage],
  [/^models\/([^/]+)$/, modelPage],
  [/^models\/([^/]+)\/(\d+)$/, modelVersionPage],
  [/^pipelines$/, pipelinesPage],
  [/^pipelines\/([^/]+)$/, pipelineRunPage],
  [/^deployments$/, deploymentsPage],
  [/^monitors$/, monitorsPage],
  [/^monitors\/([^/]+)$/, monitorPage],
  [/^triggers$/, triggersPage],
  [/^triggers\/([^/]+)$/, triggerPage],
  [/^login$/, loginPage],
];

const NAV = [
  ["", "Home"], ["datasets", "Datasets"], ["runs", "Runs"], ["models", "Models"],
  ["pipelines", "Pipelines"], ["deployments", "Deployments"], ["monitors", "Monitoring"],
  ["triggers", "Triggers & jobs"],
];

const main = () => document.getElementById("main");

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { path: path.replace(/\/$/, ""), query: new URLSearchParams(query) };
}

function renderNav(current) {
  const nav = clear(document.getElementById("nav"));
  const top = current.split("/")[0];
  for (const [path, title] of NAV) {
    nav.appendChild(h("a", { href: "#/" + path, class: top === path || (top === "compare" && path === "runs") ? "active" : null }, title));
  }
  const who = clear(document.getElementById("who"));
  if (session.auth) {
    who.appendChild(h("span", { class: "muted", "data-role": session.role }, `${session.name || "token"} · ${session.role}`));
    who.appendChild(h("button", { class: "link", onclick: logout }, "Log out"));
  }
}

let generation = 0;

export async function render() {
  const { path, query } = parseHash();
  const mine = ++generation;
  if (session.auth && !session.role && path !== "login") {
    location.hash = "#/login";
    return;
  }
  renderNav(path);
  const target = main();
  target.removeAttribute("data-ready");
  clear(target).appendChild(h("p", { class: "muted loading" }, "Loading…"));
  let nodes;
  try {
    const found = ROUTES.find(([re]) => re.test(path));
    if (!found) {
      nodes = [h("h1", null, "Not found"), h("p", null, "This page does not exist. "), h("a", { href: "#/" }, "Home")];
    } else {
      const args = found[0].exec(path).slice(1).map(decodeURIComponent);
      nodes = await found[1](args, query);
    }
  } catch (err) {
    nodes = [errorBox(err)];
  }
  if (mine !== generation) return; // a later navigation won
  clear(target);
  for (const node of [nodes].flat(Infinity)) if (node) target.appendChild(node);
  target.setAttribute("data-ready", path || "home");
  document.title = `loopml · ${(NAV.find(([p]) => p === path.split("/")[0]) || ["", "UI"])[1]}`;
}

export function errorBox(err) {
  if (err instanceof ApiError && err.unavailable) {
    return h("div", { class: "unavailable" }, "Not available: this server does not serve this part of the API yet.");
  }
  return h("div", { class: "error", role: "alert" }, err instanceof ApiError ? err.message : `error: ${err.message || err}`);
}

async function loginPage() {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", placeholder: "loopml token", required: true, id: "token" });
  const message = h("p", { class: "error hidden", role: "alert" });
  const form = h("form", { class: "card login", id: "login" },
    h("h2", null, "Log in"),
    h("p", null, "This server asks for a token (make one with: loopml token create --role reader)."),
    h("label", { for: "token" }, "Token"), input,
    h("button", { type: "submit" }, "Log in"), message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.post("/session", { token: input.value.trim() });
      input.value = "";
      await loadSession();
      location.hash = "#/";
    } catch (err) {
      message.textContent = err.status === 401 || err.status === 403 ? "That token is not valid (unknown or revoked)." : err.message;
      message.classList.remove("hidden");
    }
  });
  return [form];
}

async function logout() {
  try {
    await api.del("/session");
  } finally {
    await loadSession();
    location.hash = "#/login";
    render();
  }
}

whenUnauthorized(() => {
  session.role = null;
  if (location.hash !== "#/login") location.hash = "#/login";
});

async function start() {
  await loadSession();
  window.addEventListener("hashchange", render);
  await render();
}

start();
