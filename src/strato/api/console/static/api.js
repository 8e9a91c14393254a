// Talking to the server: the console's own endpoints and the Swift API under
// /console/api. The session cookie rides along by itself; state-changing requests add
// the session's CSRF token. The browser never holds a Keystone token.

let csrf = "";
let onSignedOut = () => {};

export function setSession(session) { csrf = session ? session.csrf : ""; }
export function whenSignedOut(callback) { onSignedOut = callback; }
export function csrfToken() { return csrf; }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const SAFE = new Set(["GET", "HEAD"]);

/** The readable sentence for a failed response (`text` is its body). */
export function describe(status, text, what = "") {
  let detail = "";
  try {  // the console's {"error": "..."}, or Glance's and Keystone's {"error": {"message"}}
    const error = JSON.parse(text).error;
    detail = (typeof error === "string" ? error : error && error.message) || "";
  } catch { detail = ""; }
  if (!detail) detail = (text || "").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  if (detail.length > 200) detail = detail.slice(0, 200) + "…";
  const lead = {
    401: "You are not signed in (401).",
    403: "Access denied (403): you have no permission for this" + (what ? ` ${what}` : "") + ".",
    404: "Not found (404)" + (what ? `: ${what}` : "") + ".",
    409: what.startsWith("container") || !what ?
      "Conflict (409): the container is not empty or was changed meanwhile." : "Conflict (409).",
    413: "Too large or over quota (413).",
    429: "Too many requests (429): try again shortly.",
    507: "The server is out of space (507).",
  }[status] || `The request failed (${status}).`;
  return detail && !lead.includes(detail) ? `${lead} ${detail}` : lead;
}

export async function call(method, url, { headers = {}, body, json, what } = {}) {
  const h = new Headers(headers);
  if (!SAFE.has(method)) h.set("X-CSRF-Token", csrf);
  if (json !== undefined) {
    h.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  }
  const response = await fetch(url, { method, headers: h, body, credentials: "same-origin" });
  if (response.status === 401 && !url.endsWith("/console/session")) {
    onSignedOut();  // the sign-in form shows why; a page's own error must not replace it
    throw new ApiError(401, "Your session has ended: sign in again.");
  }
  if (!response.ok) {
    throw new ApiError(response.status, describe(response.status, await response.text(), what));
  }
  return response;
}

/** The path of an account, container or object through the console's Swift proxy. */
export function swiftPath(account, container, object) {
  let path = "/console/api/v1/" + encodeURIComponent(account);
  if (container !== undefined) path += "/" + encodeURIComponent(container);
  if (object !== undefined) path += "/" + object.split("/").map(encodeURIComponent).join("/");
  return path;
}

export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, v);
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export function swift(method, account, container, object, options = {}) {
  const url = withQuery(swiftPath(account, container, object), options.query || {});
  return call(method, url, options);
}
