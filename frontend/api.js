// The trainboard REST API from the browser: JSON requests, the live event stream, downloads.
// The bearer token, when the server wants one, is sent as `Authorization: Bearer` with every
// call, the event stream included (read with fetch: EventSource cannot send headers), and never
// put in a URL or a cookie: no cookie means no CSRF surface. It is kept in localStorage, so that
// every tab of the dashboard shares one sign-in (sessionStorage would ask again in each new tab);
// the strict CSP (no inline script) is what keeps other code from reading it. A token the server
// refuses is dropped.

export const API = "/api/v1";
const TOKEN_KEY = "trainboard.token";
const NAMED_FIELDS = ["model", "dataset", "optimizer", "scheduler"];

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `the API answered ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

function headers(extra = {}) {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

// ?a=1&b=x&b=y from {a: 1, b: ["x", "y"]}; null, undefined and "" are left out.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== "") search.append(key, String(item));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

async function failure(response, method = "GET") {
  let detail = `${response.status} ${response.statusText}`;
  try {
    detail = (await response.json()).detail ?? detail;
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) {
    const refused = Boolean(localStorage.getItem(TOKEN_KEY));
    localStorage.removeItem(TOKEN_KEY);
    askForToken({ refused, reload: method === "GET" });
  }
  return new ApiError(response.status, detail);
}

export async function request(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(API + path, init);
  if (!response.ok) throw await failure(response, method);
  return response.status === 204 ? null : response.json();
}

export const getJSON = (path) => request("GET", path);
export const postJSON = (path, body) => request("POST", path, body);
export const del = (path) => request("DELETE", path);

// Whether the server has this route (the studies and stats routes come with a later version).
export async function exists(path) {
  const response = await fetch(API + path, { method: "GET", headers: headers() });
  return response.status !== 404 && response.status !== 405;
}

// A 422's `detail` list as {where: message}: "spec.model.mlp.hidden_sizes", "spec.learning_rate", "name".
export function validationErrors(detail) {
  const found = [];
  if (!Array.isArray(detail)) return found;
  for (const item of detail) {
    const loc = (item.loc || []).filter((part, index) => !(index === 0 && part === "body"));
    const message = String(item.msg || "invalid").replace(/^Value error, /, "");
    found.push({ loc: loc.map(String), message });
  }
  return found;
}

// One line for an error: the detail string, or "field: message; ..." for a 422 list.
export function errorText(error) {
  if (error instanceof ApiError && Array.isArray(error.detail)) {
    return validationErrors(error.detail)
      .map(({ loc, message }) => (loc.length ? `${readableLocation(loc)}: ${message}` : message))
      .join("; ");
  }
  return error?.message || String(error);
}

// spec.model.mlp.hidden_sizes -> model.hidden_sizes (pydantic puts the union tag in the path).
export function readableLocation(loc) {
  const parts = [...loc];
  if (parts[0] === "spec") parts.shift();
  if (parts.length >= 3 && NAMED_FIELDS.includes(parts[0])) parts.splice(1, 1);
  return parts.join(".");
}

// Server-Sent Events over fetch (EventSource cannot send the token): calls onEvent(type, data)
// for each event; reconnects with Last-Event-ID after a dropped connection until the `end` event
// or until `signal` aborts.
export async function followEvents(path, onEvent, { signal } = {}) {
  let lastId = null;
  let failures = 0;
  while (!signal?.aborted) {
    try {
      const response = await fetch(API + path, {
        headers: headers(lastId ? { "Last-Event-ID": lastId, Accept: "text/event-stream" } : { Accept: "text/event-stream" }),
        signal,
      });
      if (!response.ok) throw await failure(response);
      failures = 0;
      const ended = await readStream(response.body, (type, data, id) => {
        if (id) lastId = id;
        onEvent(type, data);
      });
      if (ended) return;
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof ApiError && error.status < 500) {
        onEvent("error", { message: errorText(error), status: error.status });
        return;
      }
      failures += 1;
      onEvent("reconnecting", { attempt: failures });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** failures, 10000)));
  }
}

// Parses an event stream; resolves true once an `end` event was seen.
async function readStream(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  let id = null;
  let ended = false;
  const line = (text) => {
    if (text === "") {
      if (data.length) {
        let parsed = data.join("\n");
        try {
          parsed = JSON.parse(parsed);
        } catch {
          // plain text data
        }
        dispatch(type, parsed, id);
        if (type === "end") ended = true;
      }
      type = "message";
      data = [];
      id = null;
    } else if (text.startsWith(":")) {
      // a comment: the server's keep-alive ping
    } else {
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      const value = colon < 0 ? "" : text.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return ended;
    buffer += value;
    for (;;) {
      const match = /\r\n|\n|\r/.exec(buffer);
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (!match || (match[0] === "\r" && match.index === buffer.length - 1)) break;
      line(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
    if (ended) {
      reader.cancel().catch(() => {});
      return true;
    }
  }
}

// Fetches a file (with the token) and saves it under `filename`.
export async function download(path, filename) {
  const response = await fetch(API + path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  saveBlob(await response.blob(), filename);
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Fetches an image (with the token) as an object URL for an <img>.
export async function imageURL(path) {
  const response = await fetch(API + path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return URL.createObjectURL(await response.blob());
}

// A sign-in bar asking for the API token, shown once the server has answered 401. After a page
// read failed the page reloads with the token; after a write it stays (the form keeps its input)
// and the user sends again.
function askForToken({ refused = false, reload = true } = {}) {
  if (document.getElementById("token-bar")) return;
  const bar = document.createElement("form");
  bar.id = "token-bar";
  bar.className = "token-bar";
  const label = document.createElement("label");
  label.textContent = refused
    ? "That token was refused. Sign in with a valid API token: "
    : "This server needs an API token. Sign in: ";
  const input = document.createElement("input");
  input.type = "password";
  input.name = "token";
  input.autocomplete = "off";
  input.placeholder = "tb_... or TRAINBOARD_API_TOKEN";
  input.setAttribute("aria-label", "API token");
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "button primary";
  button.textContent = "Sign in";
  label.append(input);
  bar.append(label, button);
  bar.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    localStorage.setItem(TOKEN_KEY, token);
    if (reload) {
      location.reload();
    } else {
      bar.remove();
    }
  });
  document.body.prepend(bar);
  input.focus();
}
