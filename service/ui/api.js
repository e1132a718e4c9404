// The API: every call sends the key (if any) as a header; a 401 asks for it once and retries.

import { $ } from "./dom.js";

export const KEY_STORE = "rnncast.apiKey";
export const FINAL = new Set(["succeeded", "failed", "cancelled"]);

export function describe(detail) {
  if (Array.isArray(detail)) return detail.map((e) => `${(e.loc || []).slice(1).join(".") || "body"}: ${e.msg}`).join("; ");
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return String(detail);
}

export class ApiError extends Error {
  /** `body`: the whole JSON answer, where it says more than `detail` (a gate's 409 carries `evidence`). */
  constructor(status, detail, body = null) {
    super(`${status}: ${describe(detail)}`);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

let keyPrompt = null;

function askKey(message) {
  if (keyPrompt) return keyPrompt;
  const dialog = $("#key-dialog");
  $("#key-error").textContent = message || "";
  $("#key-input").value = "";
  keyPrompt = new Promise((resolve) => {
    $("#key-form").onsubmit = (event) => {
      event.preventDefault();
      const key = $("#key-input").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORE, key);
      dialog.close();
      keyPrompt = null;
      $("#forget-key").hidden = false;
      resolve();
    };
  });
  if (!dialog.open) dialog.showModal();
  return keyPrompt;
}

/** A call to the API: `body` goes as JSON, or as it is when it is FormData (a file upload, multipart) or a Blob
 * (a file as the whole body, application/octet-stream). */
export async function api(method, path, body, { blob = false } = {}) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["X-API-Key"] = key;
  const form = body instanceof FormData || body instanceof Blob;
  if (body instanceof Blob) headers["Content-Type"] = "application/octet-stream";
  else if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  const sent = body === undefined || form ? body : JSON.stringify(body);
  const response = await fetch(path, { method, headers, body: sent });
  if (response.status === 401) {
    await askKey(key ? "That key was refused: try again." : "");
    return api(method, path, body, { blob });
  }
  if (!response.ok) {
    let detail = response.statusText;
    let payload = null;
    try { payload = await response.json(); detail = payload.detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, detail, payload);
  }
  if (blob) return response.blob();
  return response.status === 204 ? null : response.json();
}

/** An image the API draws, fetched with the key and shown from a blob URL. */
export async function loadImage(img, path) {
  const blob = await api("GET", path, undefined, { blob: true });
  const old = img.src;
  img.src = URL.createObjectURL(blob);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

let openapi = null;

/** The API's own OpenAPI document, fetched once: the forms' fields, defaults and bounds come from it. */
export async function openapiDoc() {
  if (!openapi) {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new ApiError(response.status, response.statusText);
    openapi = await response.json();
  }
  return openapi;
}

// Live job events: EventSource cannot send headers, so the page asks for a short-lived stream token
// (an authenticated call) and puts it, never the key, in the URL. A dropped stream is reopened with
// a fresh token from the last event it delivered (last_event_id).
export function followJob(jobId, handlers) {
  let source = null;
  let lastId = null;
  let stopped = false;
  let retry = null;

  async function open() {
    if (stopped) return;
    let token = null;
    try {
      token = (await api("POST", `/v1/jobs/${jobId}/events/token`)).token;
    } catch (err) {
      handlers.error?.(err);
      retry = setTimeout(open, 3000);
      return;
    }
    const query = new URLSearchParams();
    if (token) query.set("token", token);
    if (lastId) query.set("last_event_id", lastId);
    source = new EventSource(`/v1/jobs/${jobId}/events?${query}`);
    source.addEventListener("epoch", (event) => {
      lastId = event.lastEventId || lastId;
      handlers.epoch(JSON.parse(event.data));
    });
    source.addEventListener("status", (event) => {
      lastId = event.lastEventId || lastId;
      const data = JSON.parse(event.data);
      handlers.status(data);
      if (FINAL.has(data.status)) stop();
    });
    source.onerror = () => {
      // CONNECTING: the browser resumes by itself (sending Last-Event-ID). CLOSED (e.g. the
      // token expired): open again with a new token, from the last event seen.
      if (!stopped && source.readyState === EventSource.CLOSED) {
        source = null;
        retry = setTimeout(open, 1000);
      }
    };
  }

  function stop() {
    stopped = true;
    clearTimeout(retry);
    if (source) source.close();
  }

  open();
  return stop;
}
