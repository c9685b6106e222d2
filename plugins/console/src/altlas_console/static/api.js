// Calls to the service's API from the page: the API key (kept in sessionStorage), the
// answers 401 and 403 turned into state the views react to, and curl text for a request.
import { html } from "./html.js";

const KEY = "altlas.apiKey";
const listeners = new Set();

/** What the page knows about access: whether a key is needed, whether it holds admin
 * (false until GET /api/auth/whoami says so, so that no admin action shows by mistake). */
export const access = { needKey: false, admin: false, name: null };

/** Calls `fn` whenever `access` changes; returns the function that stops it. */
export function onAccess(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed() {
  listeners.forEach((fn) => fn({ ...access }));
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
  access.needKey = false;
  changed();
  checkScopes();
}

/** An API error, carrying the service's error body when there is one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * fetch() against the service with the key; a 401 asks for a key, a 403 on an admin
 * route hides admin actions. Returns the Response when it is ok, else throws ApiError.
 */
export async function call(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  const response = await fetch(path, { ...options, headers });
  if (response.ok) return response;
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not the service's JSON error body: the status says enough.
  }
  if (response.status === 401) {
    access.needKey = true;
    changed();
  } else if (response.status === 403 && body?.error?.code === "missing_scope") {
    access.admin = false;
    changed();
  }
  throw new ApiError(response.status, body);
}

/**
 * Asks the service which scopes the key holds (GET /api/auth/whoami) and hides admin
 * actions from a key without admin. A 401 asks for a key, as any call does.
 */
export async function checkScopes() {
  try {
    const { scopes, name } = await json("/api/auth/whoami");
    access.admin = scopes.includes("admin");
    access.name = name;
    changed();
  } catch {
    // 401: call() has asked for a key; checkScopes runs again once one is given.
  }
}

/** GET or POST JSON and decode the JSON answer. */
export async function json(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  return (await call(path, options)).json();
}

const quote = (text) => `'${String(text).replace(/'/g, "'\\''")}'`;

/** The curl command for a request the page sends (the key as a variable, never its value). */
export function curl(path, { body, form, stream } = {}) {
  const parts = [`curl${stream ? " -N" : ""} -X POST ${quote(location.origin + path)}`];
  if (apiKey()) parts.push(`-H "Authorization: Bearer $ALTLAS_API_KEY"`);
  if (body !== undefined) {
    parts.push("-H 'Content-Type: application/json'", `-d ${quote(JSON.stringify(body))}`);
  }
  for (const [name, value] of Object.entries(form || {})) {
    parts.push(value instanceof File ? `-F ${quote(`${name}=@${value.name}`)}` : `-F ${quote(`${name}=${value}`)}`);
  }
  return parts.join(" \\\n  ");
}

/** A request shown as curl, with a button that copies it. */
export function Curl({ text }) {
  if (!text) return null;
  const copy = () => navigator.clipboard?.writeText(text);
  return html`<details class="curl"><summary>Request as curl</summary>
    <pre>${text}</pre><button type="button" onClick=${copy}>Copy</button></details>`;
}

/** The model and timing of an answer. */
export function Timing({ answer }) {
  if (!answer) return null;
  const t = answer.timing || {};
  return html`<p class="timing" data-testid="timing">
    model <b>${answer.model_id || answer.model}</b>
    ${t.total_ms !== undefined && html` · total ${t.total_ms} ms · inference ${t.inference_ms} ms · queue ${t.queue_ms} ms`}
    ${answer.from_cache && " · from cache"}</p>`;
}
