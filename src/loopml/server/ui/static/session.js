// Who is looking: with --auth, GET /api/v1/session gives {role, name} (401 until logged in);
// a server without --auth (it says so in the page's meta tag) lets its one user do everything.

import { api } from "./api.js";

export const session = { auth: false, role: "admin", name: null };

function serverAsksForTokens() {
  const meta = document.querySelector('meta[name="loopml-auth"]');
  return Boolean(meta && meta.getAttribute("content") === "on");
}

export async function loadSession() {
  if (!serverAsksForTokens()) {
    // no --auth: one local user with every right; there is no session to ask for
    Object.assign(session, { auth: false, role: "admin", name: null });
    return;
  }
  try {
    const data = await api.get("/session");
    session.auth = data && data.auth !== false;
    session.role = (data && data.role) || (session.auth ? null : "admin");
    session.name = (data && data.name) || null;
  } catch {
    // 401 until a token was given: the login form
    Object.assign(session, { auth: true, role: null, name: null });
  }
}

export const canWrite = () => session.role === "writer" || session.role === "admin";
export const isAdmin = () => session.role === "admin";
