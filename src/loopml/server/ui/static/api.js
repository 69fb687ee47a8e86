// The JSON API of this server (/api/v1), from the browser. The session cookie (with --auth)
// travels by itself: same origin, HttpOnly, SameSite=Strict.

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }

  /** The route is not served by this server (yet): a 404 of the router, or 405. */
  get unavailable() {
    return this.status === 405 || (this.status === 404 && /^no such route/.test(this.message));
  }
}

function url(path, query) {
  let out = API + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === null || v === undefined || v === "") continue;
      if (Array.isArray(v)) v.forEach((item) => q.append(k, String(item)));
      else q.set(k, String(v));
    }
    const text = q.toString();
    if (text) out += "?" + text;
  }
  return out;
}

/** A path segment, encoded: seg("a/b") → "a%2Fb". */
export function seg(value) {
  return encodeURIComponent(String(value));
}

let onUnauthorized = null;
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

async function call(method, path, { query, body } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (exc) {
    throw new ApiError(0, `the server did not answer (${exc.message}); is it still running?`, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    const err = new ApiError(response.status, message, data && data.field);
    if (response.status === 401 && onUnauthorized && path !== "/session") onUnauthorized(err);
    throw err;
  }
  return data;
}

export const api = {
  get: (path, query) => call("GET", path, { query }),
  post: (path, body) => call("POST", path, { body: body ?? {} }),
  put: (path, body) => call("PUT", path, { body: body ?? {} }),
  del: (path) => call("DELETE", path),
  /** The items of a list answer (a page {items, next_page_token}, or a bare list). */
  async items(path, query) {
    const data = await call("GET", path, { query });
    if (Array.isArray(data)) return data;
    return (data && data.items) || [];
  },
  /** One page: {items, next} whatever the answer's shape. */
  async page(path, query) {
    const data = await call("GET", path, { query });
    if (Array.isArray(data)) return { items: data, next: null };
    return { items: (data && data.items) || [], next: (data && data.next_page_token) || null };
  },
};
