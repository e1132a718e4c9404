// rnncast dashboard: plain ES module over the same /v1 API (and auth) as every other client.
// Views are rendered from hash routes (#/jobs, #/jobs/<id>, #/models/<id>, #/comparisons/<id>, ...);
// each view returns a cleanup function that stops its timers and streams.

const KEY_STORE = "rnncast.apiKey";
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// ---------------------------------------------------------------------------------------------
// DOM helpers: elements are built with textContent, never innerHTML from data.

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}

function age(iso) {
  if (!iso) return "–";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function statusBadge(status) {
  return h("span", { class: `status status-${status}`, dataset: { status } }, status);
}

function flash(message, isError = false) {
  const el = $("#flash");
  el.textContent = message;
  el.className = isError ? "error" : "";
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { el.textContent = ""; }, isError ? 12000 : 5000);
}

function describe(detail) {
  if (Array.isArray(detail)) return detail.map((e) => `${(e.loc || []).slice(1).join(".") || "body"}: ${e.msg}`).join("; ");
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return String(detail);
}

// ---------------------------------------------------------------------------------------------
// The API: every call sends the key (if any) as a header; a 401 asks for it once and retries.

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${describe(detail)}`);
    this.status = status;
    this.detail = detail;
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

async function api(method, path, body, { blob = false } = {}) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    await askKey(key ? "That key was refused: try again." : "");
    return api(method, path, body, { blob });
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  if (blob) return response.blob();
  return response.status === 204 ? null : response.json();
}

/** An image the API draws, fetched with the key and shown from a blob URL. */
async function loadImage(img, path) {
  const blob = await api("GET", path, undefined, { blob: true });
  const old = img.src;
  img.src = URL.createObjectURL(blob);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

let openapi = null;

/** Defaults and bounds of the job form, from the API's own schema (one source of truth). */
async function jobSchema() {
  if (!openapi) openapi = await (await fetch("/openapi.json")).json();
  return openapi.components.schemas.JobCreate.properties;
}

function schemaDefault(prop) {
  if (!prop) return "";
  if ("default" in prop && prop.default !== null) return prop.default;
  return "";
}

// ---------------------------------------------------------------------------------------------
// Charts (uPlot, vendored).

function lossChart(container) {
  const css = getComputedStyle(document.documentElement);
  const data = [[], [], []];
  const opts = {
    width: Math.max(container.clientWidth - 8, 280), height: 300,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: "epoch", stroke: css.getPropertyValue("--fg") },
      { label: "MSE loss (log)", stroke: css.getPropertyValue("--fg"), size: 70 }],
    series: [{ label: "epoch" },
      { label: "train", stroke: css.getPropertyValue("--train").trim(), width: 2 },
      { label: "test", stroke: css.getPropertyValue("--test").trim(), width: 2, dash: [6, 4] }],
  };
  const chart = new uPlot(opts, data, container);
  const resize = () => chart.setSize({ width: Math.max(container.clientWidth - 8, 280), height: 300 });
  window.addEventListener("resize", resize);
  return {
    set(history) {
      const n = history.train_loss.length;
      data[0] = history.epoch && history.epoch.length === n ? history.epoch.slice()
        : Array.from({ length: n }, (_, i) => i + 1);
      data[1] = history.train_loss.slice();
      data[2] = history.test_loss.slice();
      chart.setData(data);
      container.dataset.points = String(n);
    },
    add(epoch, train, test) {
      const at = data[0].indexOf(epoch);
      if (at >= 0) { data[1][at] = train; data[2][at] = test; } else {
        data[0].push(epoch); data[1].push(train); data[2].push(test);
      }
      chart.setData(data);
      container.dataset.points = String(data[0].length);
    },
    destroy() { window.removeEventListener("resize", resize); chart.destroy(); },
  };
}

function forecastChart(container, lines) {
  // lines: [{label, x, y, color, dash, points}] drawn on one shared x axis.
  const css = getComputedStyle(document.documentElement);
  const xs = [...new Set(lines.flatMap((l) => l.x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const data = [xs, ...lines.map((l) => {
    const ys = new Array(xs.length).fill(null);
    l.x.forEach((x, i) => { ys[index.get(x)] = l.y[i]; });
    return ys;
  })];
  const chart = new uPlot({
    width: Math.max(container.clientWidth - 8, 280), height: 300,
    scales: { x: { time: false } },
    axes: [{ label: "t", stroke: css.getPropertyValue("--fg") }, { stroke: css.getPropertyValue("--fg") }],
    series: [{ label: "t" }, ...lines.map((l) => ({
      label: l.label, stroke: l.color, width: l.points ? 0 : 2, dash: l.dash,
      points: l.points ? { show: true, size: 5, fill: l.color } : { show: false },
    }))],
  }, data, container);
  container.dataset.points = String(xs.length);
  return chart;
}

// ---------------------------------------------------------------------------------------------
// Live job events: EventSource cannot send headers, so the page asks for a short-lived stream token
// (an authenticated call) and puts it, never the key, in the URL. A dropped stream is reopened with
// a fresh token from the last event it delivered (last_event_id).

function followJob(jobId, handlers) {
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

// ---------------------------------------------------------------------------------------------
// Views.

function pager(offset, limit, count, go) {
  return h("div", { class: "pager" },
    h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ Newer"),
    h("span", { class: "muted" }, count ? `${offset + 1}–${Math.min(offset + limit, count)} of ${count}` : "none"),
    h("button", { type: "button", class: "secondary", disabled: offset + limit >= count, onclick: () => go(offset + limit) }, "Older ›"));
}

function showFieldErrors(form, err) {
  $$(".field-error", form).forEach((el) => { el.textContent = ""; });
  $$("[aria-invalid]", form).forEach((el) => el.removeAttribute("aria-invalid"));
  const general = $(".form-error", form);
  general.textContent = "";
  if (!(err instanceof ApiError)) { general.textContent = String(err.message || err); return; }
  const items = Array.isArray(err.detail) ? err.detail : [{ loc: [], msg: describe(err.detail) }];
  for (const item of items) {
    const name = (item.loc || []).slice(1).filter((p) => typeof p === "string").join(".");
    const input = name && form.elements.namedItem(name);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      $(`[data-error-for="${name}"]`, form).textContent = item.msg;
    } else {
      general.textContent += `${general.textContent ? "; " : ""}${name ? `${name}: ` : ""}${item.msg}`;
    }
  }
}

function numberField(name, label, value, attrs = {}) {
  return h("label", {}, label,
    h("input", { name, type: "number", value, step: "any", ...attrs }),
    h("span", { class: "field-error", dataset: { errorFor: name } }));
}

const JOB_FIELDS = [
  ["epochs", "Epochs"], ["hidden_size", "Hidden size"], ["num_layers", "Layers"], ["lr", "Learning rate"],
  ["batch_size", "Batch size"], ["sequence_length", "Sequence length"], ["seed", "Seed"],
];

async function jobForm() {
  const props = await jobSchema();
  const form = h("form", { class: "grid", id: "job-form", novalidate: true },
    h("label", {}, "Cell",
      h("select", { name: "cell" }, ...["RNN", "LSTM", "GRU"].map((c) => h("option", { value: c, selected: c === "LSTM" }, c))),
      h("span", { class: "field-error", dataset: { errorFor: "cell" } })),
    ...JOB_FIELDS.map(([name, label]) => numberField(name, label, schemaDefault(props[name]))),
    h("label", {}, "Name", h("input", { name: "name", type: "text", maxlength: 200 }),
      h("span", { class: "field-error", dataset: { errorFor: "name" } })),
    h("div", { class: "wide actions" }, h("button", { type: "submit" }, "Start training"),
      h("span", { class: "muted" }, "Defaults are the tutorial's."), h("p", { class: "error form-error" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { cell: form.elements.cell.value };
    for (const [name] of JOB_FIELDS) {
      const raw = form.elements[name].value.trim();
      if (raw !== "") body[name] = Number(raw);
    }
    if (form.elements.name.value.trim()) body.name = form.elements.name.value.trim();
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      const job = await api("POST", "/v1/jobs", body);
      flash(`Job ${job.id.slice(0, 8)} queued.`);
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showFieldErrors(form, err);
      flash(`The job was refused: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

async function jobsView(root, params) {
  const limit = 20;
  let offset = Number(params.get("offset") || 0);
  const status = params.get("status") || "";
  const filter = h("select", { id: "status-filter", onchange: () => { location.hash = `#/jobs?status=${filter.value}`; } },
    ...["", "queued", "running", "succeeded", "failed", "cancelled"].map((s) => h("option", { value: s, selected: s === status }, s || "all statuses")));
  const body = h("tbody");
  const foot = h("div");
  root.replaceChildren(
    h("h1", {}, "Training jobs"),
    h("div", { class: "toolbar" }, h("label", {}, "Status", filter)),
    h("div", { class: "table-wrap" }, h("table", { id: "jobs-table" },
      h("thead", {}, h("tr", {}, ...["job", "name", "cell", "status", "epoch", "train loss", "test loss", "age"].map((t) => h("th", {}, t)))),
      body)),
    foot,
    h("h2", {}, "New training job"),
    await jobForm());

  async function refresh() {
    const query = new URLSearchParams({ limit, offset });
    if (status) query.set("status", status);
    const page = await api("GET", `/v1/jobs?${query}`);
    body.replaceChildren(...page.data.map((job) => h("tr", { dataset: { jobId: job.id } },
      h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.id.slice(0, 8))),
      h("td", {}, job.name || ""),
      h("td", {}, job.params.cell),
      h("td", {}, statusBadge(job.status)),
      h("td", {}, `${job.progress.epoch}/${job.progress.epochs ?? "?"}`),
      h("td", {}, fmt(job.metrics.train_loss)),
      h("td", {}, fmt(job.metrics.test_loss)),
      h("td", { title: job.created_at }, age(job.created_at)))));
    foot.replaceChildren(pager(offset, limit, page.count, (o) => {
      offset = o;
      refresh().catch((err) => flash(err.message, true));
    }));
  }
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), 2000);
  return () => clearInterval(timer);
}

function card(key, value, attrs = {}) {
  return h("div", { class: "card", ...attrs }, h("div", { class: "k" }, key), h("div", { class: "v" }, value));
}

async function jobView(root, id) {
  let job = await api("GET", `/v1/jobs/${id}`);
  const chartBox = h("div", { class: "chart", id: "loss-chart" });
  const cards = h("div", { class: "cards" });
  const bar = h("div", { class: "progress" }, h("div"));
  const cancelButton = h("button", { type: "button", class: "danger", id: "cancel-job", onclick: () => cancel() }, "Cancel");
  const modelLink = h("a", { id: "model-link", hidden: true }, "Open its model →");
  const actions = h("div", { class: "actions" }, cancelButton, modelLink);
  root.replaceChildren(
    h("h1", {}, `Job ${id.slice(0, 8)} `, h("span", { class: "muted" }, job.name || "")),
    bar, h("p", { id: "progress-text", class: "muted" }),
    cards, actions,
    h("h2", {}, "Loss"), chartBox,
    h("h2", {}, "Parameters"), h("pre", { class: "params" }, JSON.stringify(job.params, null, 2)));
  const chart = lossChart(chartBox);
  chart.set(job.history);
  const startedEpoch = { at: null, epoch: null };

  function render() {
    const p = job.progress;
    const done = p.epochs ? p.epoch / p.epochs : 0;
    bar.firstChild.style.width = `${(100 * done).toFixed(1)}%`;
    let eta = "";
    if (job.status === "running" && startedEpoch.at !== null && p.epoch > startedEpoch.epoch) {
      const perEpoch = (performance.now() - startedEpoch.at) / 1000 / (p.epoch - startedEpoch.epoch);
      eta = ` · ETA ${duration(perEpoch * (p.epochs - p.epoch))}`;
    }
    $("#progress-text").textContent = `epoch ${p.epoch}/${p.epochs ?? "?"}${eta}`;
    cards.replaceChildren(
      card("status", statusBadge(job.status), { id: "job-status" }),
      card("cell", job.params.cell),
      card("train loss", fmt(job.metrics.train_loss)),
      card("test loss", fmt(job.metrics.test_loss), { id: "job-test-loss" }),
      card("device", job.device || "–"),
      card("attempts", job.attempts),
      card("started", job.started_at ? `${age(job.started_at)} ago` : "–"),
      ...(job.stopped_early_at ? [card("stopped early at", `epoch ${job.stopped_early_at}`)] : []),
      ...(job.best_epoch ? [card("best epoch", job.best_epoch)] : []),
      ...(job.error ? [card("error", job.error)] : []));
    // Updated in place, never rebuilt: a button that moves under the pointer cannot be clicked.
    cancelButton.hidden = FINAL.has(job.status);
    cancelButton.disabled = Boolean(job.cancel_requested);
    cancelButton.textContent = job.cancel_requested ? "Cancelling…" : "Cancel";
    modelLink.hidden = !job.model_id;
    if (job.model_id) modelLink.href = `#/models/${job.model_id}`;
  }

  async function cancel() {
    try {
      job = await api("POST", `/v1/jobs/${id}/cancel`);
      flash(job.status === "cancelled" ? "Job cancelled." : "Cancel requested: it stops within a second.");
      render();
    } catch (err) {
      flash(`Cancel failed: ${err.message}`, true);
    }
  }

  render();
  let stop = () => {};
  if (!FINAL.has(job.status)) {
    stop = followJob(id, {
      epoch(e) {
        if (startedEpoch.at === null) { startedEpoch.at = performance.now(); startedEpoch.epoch = e.epoch; }
        chart.add(e.epoch, e.train_loss, e.test_loss);
        job.progress = { epoch: e.epoch, epochs: e.epochs };
        job.metrics = { ...job.metrics, train_loss: e.train_loss, test_loss: e.test_loss };
        render();
      },
      async status() {
        job = await api("GET", `/v1/jobs/${id}`);
        chart.set(job.history);
        render();
      },
      error(err) { flash(`Live updates paused: ${err.message}`, true); },
    });
  }
  return () => { stop(); chart.destroy(); };
}

async function modelsView(root) {
  const page = await api("GET", "/v1/models?limit=100");
  root.replaceChildren(
    h("h1", {}, "Models"),
    h("div", { class: "table-wrap" }, h("table", { id: "models-table" },
      h("thead", {}, h("tr", {}, ...["model", "cell", "epochs", "parameters", "test loss", "created"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...page.data.map((m) => h("tr", {},
        h("td", {}, h("a", { href: `#/models/${m.id}` }, m.id.slice(0, 8))), h("td", {}, m.cell),
        h("td", {}, m.epochs_trained), h("td", {}, m.parameters), h("td", {}, fmt(m.metrics.test_loss)),
        h("td", { title: m.created_at }, age(m.created_at))))))),
    h("p", { class: "muted" }, `${page.count} model(s)`));
  return () => {};
}

function sineContext(data, seq, start) {
  const step = data.stop / (data.points - 1);
  const x = Array.from({ length: seq }, (_, i) => start - (seq - i) * step);
  return { x, y: x.map((t) => data.amplitude * Math.sin(2 * Math.PI * t / data.period + data.phase)) };
}

async function modelView(root, id) {
  const model = await api("GET", `/v1/models/${id}`);
  const data = model.params.data || {};
  const onDataset = data.kind === "dataset";
  const chartBox = h("div", { class: "chart", id: "forecast-chart" });
  const result = h("p", { id: "forecast-result", class: "muted" });
  const form = h("form", { class: "grid", id: "forecast-form", novalidate: true },
    h("label", {}, "From",
      h("select", { name: "mode" },
        onDataset ? h("option", { value: "origin" }, "a position in its series") : h("option", { value: "start" }, "t (start) on its sine"),
        h("option", { value: "context" }, "values I paste"))),
    onDataset ? numberField("origin", "Origin (blank: the series' end)", "") : numberField("start", "Start t", 123),
    numberField("horizon", "Horizon", 100, { min: 1 }),
    h("label", { class: "wide" }, `Values (at least ${model.params.sequence_length}, comma or space separated)`,
      h("textarea", { name: "context", placeholder: "0.1, 0.2, 0.3 …" }),
      h("span", { class: "field-error", dataset: { errorFor: "context" } })),
    h("div", { class: "wide actions" }, h("button", { type: "submit" }, "Forecast"), h("p", { class: "error form-error" })));
  let chart = null;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const mode = form.elements.mode.value;
    const body = { horizon: Number(form.elements.horizon.value) };
    let context = null;
    if (mode === "context") {
      context = form.elements.context.value.split(/[\s,;]+/).filter(Boolean).map(Number);
      body.context = context;
    } else if (mode === "start") {
      body.start = Number(form.elements.start.value);
    } else if (form.elements.origin.value.trim() !== "") {
      body.origin = Number(form.elements.origin.value);
    }
    try {
      const fc = await api("POST", `/v1/models/${id}/forecast`, body);
      showFieldErrors(form, new Error(""));
      const css = getComputedStyle(document.documentElement);
      const lines = [];
      if (context) {
        lines.push({ label: "context", x: context.map((_, i) => i - context.length), y: context, color: css.getPropertyValue("--fg").trim() });
      } else if (mode === "start") {
        const ctx = sineContext(data, model.params.sequence_length, body.start);
        lines.push({ label: "context", ...ctx, color: css.getPropertyValue("--fg").trim() });
      }
      if (fc.exact) lines.push({ label: "exact", x: fc.x.slice(0, fc.exact.length), y: fc.exact, color: "#9aa3b2" });
      lines.push({ label: "prediction", x: fc.x, y: fc.y, color: css.getPropertyValue("--train").trim(), points: true });
      if (chart) chart.destroy();
      chartBox.replaceChildren();
      chart = forecastChart(chartBox, lines);
      result.textContent = fc.mse !== undefined && fc.mse !== null
        ? `MSE ${fmt(fc.mse)} · max abs error ${fmt(fc.max_abs_error)} over ${fc.exact.length} step(s)`
        : `${fc.y.length} step(s) predicted (no true values to compare with)`;
      result.dataset.mse = fc.mse ?? "";
    } catch (err) {
      showFieldErrors(form, err);
      result.textContent = "";
      flash(`Forecast failed: ${err.message}`, true);
    }
  });

  async function remove() {
    if (!window.confirm(`Delete model ${id.slice(0, 8)} and its checkpoint files? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/v1/models/${id}`);
      flash(`Model ${id.slice(0, 8)} deleted.`);
      location.hash = "#/models";
    } catch (err) {
      flash(`Delete failed: ${err.message}`, true);
    }
  }

  root.replaceChildren(
    h("h1", {}, `Model ${id.slice(0, 8)} `, h("span", { class: "muted" }, model.cell)),
    h("div", { class: "cards" },
      card("train loss", fmt(model.metrics.train_loss)), card("test loss", fmt(model.metrics.test_loss)),
      card("epochs", model.epochs_trained), card("parameters", model.parameters), card("device", model.device),
      card("created", `${age(model.created_at)} ago`),
      card("checkpoint sha256", model.checkpoint.sha256.slice(0, 16) + "…", { title: model.checkpoint.sha256, id: "model-digest" })),
    h("div", { class: "actions" },
      h("a", { href: `#/jobs/${model.job_id}` }, "Its training job"),
      h("button", { type: "button", class: "danger", id: "delete-model", onclick: remove }, "Delete model")),
    h("h2", {}, "Forecast"), form, result, chartBox,
    h("h2", {}, "Parameters"), h("pre", { class: "params" }, JSON.stringify(model.params, null, 2)));
  return () => { if (chart) chart.destroy(); };
}

async function comparisonsView(root) {
  const page = await api("GET", "/v1/comparisons?limit=50");
  const form = h("form", { class: "grid", id: "comparison-form", novalidate: true },
    h("fieldset", { class: "wide" }, h("legend", {}, "Cells"),
      ...["RNN", "LSTM", "GRU"].map((c) => h("label", {}, h("input", { type: "checkbox", name: "cells", value: c, checked: true }), c))),
    h("label", {}, "Seeds", h("input", { name: "seeds", value: "0,1,2" }), h("span", { class: "field-error", dataset: { errorFor: "seeds" } })),
    numberField("epochs", "Epochs", 500, { min: 1 }),
    numberField("hidden_size", "Hidden size", 20, { min: 1 }),
    h("div", { class: "wide actions" }, h("button", { type: "submit" }, "Start comparison"), h("p", { class: "error form-error" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      cells: $$("input[name=cells]:checked", form).map((el) => el.value),
      seeds: form.elements.seeds.value.split(/[\s,]+/).filter(Boolean).map(Number),
      train: { epochs: Number(form.elements.epochs.value), hidden_size: Number(form.elements.hidden_size.value) },
    };
    try {
      const study = await api("POST", "/v1/comparisons", body);
      flash(`Comparison ${study.id.slice(0, 8)} started: ${study.runs.length} runs.`);
      location.hash = `#/comparisons/${study.id}`;
    } catch (err) {
      showFieldErrors(form, err);
      flash(`The comparison was refused: ${err.message}`, true);
    }
  });
  root.replaceChildren(
    h("h1", {}, "Comparisons"),
    h("div", { class: "table-wrap" }, h("table", { id: "comparisons-table" },
      h("thead", {}, h("tr", {}, ...["comparison", "name", "status", "cells", "seeds", "best cell", "created"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...page.data.map((c) => h("tr", {},
        h("td", {}, h("a", { href: `#/comparisons/${c.id}` }, c.id.slice(0, 8))), h("td", {}, c.name || ""),
        h("td", {}, statusBadge(c.status)), h("td", {}, c.cells.join(", ")), h("td", {}, c.seeds.join(", ")),
        h("td", {}, c.best_cell || "–"), h("td", { title: c.created_at }, age(c.created_at))))))),
    h("h2", {}, "New comparison"), form);
  return () => {};
}

function statCell(stat) {
  if (!stat || stat.n === 0) return "–";
  return `${fmt(stat.mean)} ± ${fmt(stat.std, 2)} (n=${stat.n})`;
}

async function comparisonView(root, id) {
  const runs = h("tbody");
  const summary = h("tbody");
  const header = h("div", { class: "cards" });
  const loss = h("img", { alt: "train and test loss per cell", id: "loss-png" });
  const preds = h("img", { alt: "each cell's forecast", id: "predictions-png" });
  root.replaceChildren(
    h("h1", {}, `Comparison ${id.slice(0, 8)}`), header,
    h("h2", {}, "Runs"),
    h("div", { class: "table-wrap" }, h("table", { id: "runs-table" },
      h("thead", {}, h("tr", {}, ...["cell", "seed", "job", "status", "epoch", "test loss", "forecast MSE", "seconds"].map((t) => h("th", {}, t)))), runs)),
    h("h2", {}, "Summary"),
    h("div", { class: "table-wrap" }, h("table", { id: "summary-table" },
      h("thead", {}, h("tr", {}, ...["cell", "final test loss", "forecast MSE", "train seconds"].map((t) => h("th", {}, t)))), summary)),
    h("h2", {}, "Figures"), h("div", { class: "figures" }, loss, preds));
  let last = null;
  let drawnAt = 0;

  async function refresh() {
    const c = await api("GET", `/v1/comparisons/${id}`);
    header.replaceChildren(card("status", statusBadge(c.status), { id: "comparison-status" }),
      card("best cell", c.best_cell || "–", { id: "best-cell" }), card("runs", c.runs.length),
      card("created", `${age(c.created_at)} ago`));
    runs.replaceChildren(...c.runs.map((r) => h("tr", {},
      h("td", {}, r.cell), h("td", {}, r.seed), h("td", {}, h("a", { href: `#/jobs/${r.job_id}` }, r.job_id.slice(0, 8))),
      h("td", {}, statusBadge(r.status)), h("td", {}, r.epoch), h("td", {}, fmt(r.final_test_loss)),
      h("td", {}, fmt(r.forecast_mse)), h("td", {}, fmt(r.train_seconds)))));
    summary.replaceChildren(...Object.entries(c.summary).map(([cell, s]) => h("tr", { class: cell === c.best_cell ? "best" : "" },
      h("td", {}, cell), h("td", {}, statCell(s.final_test_loss)), h("td", {}, statCell(s.forecast_mse)),
      h("td", {}, statCell(s.train_seconds)))));
    const finished = c.status !== "running";
    if (c.status !== last || (!finished && Date.now() - drawnAt > 10000)) {
      drawnAt = Date.now();
      await Promise.all([loadImage(loss, `/v1/comparisons/${id}/loss.png`), loadImage(preds, `/v1/comparisons/${id}/predictions.png`)]);
      loss.dataset.drawnFor = preds.dataset.drawnFor = c.status;
    }
    last = c.status;
    return finished;
  }

  let timer = null;
  const tick = async () => {
    try {
      if (!(await refresh())) timer = setTimeout(tick, 2000);
    } catch (err) {
      flash(err.message, true);
      timer = setTimeout(tick, 5000);
    }
  };
  await tick();
  return () => clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Router.

const ROUTES = [
  [/^\/jobs\/([0-9a-f]{32})$/, jobView, "jobs"],
  [/^\/jobs$/, jobsView, "jobs"],
  [/^\/models\/([0-9a-f]{32})$/, modelView, "models"],
  [/^\/models$/, modelsView, "models"],
  [/^\/comparisons\/([0-9a-f]{32})$/, comparisonView, "comparisons"],
  [/^\/comparisons$/, comparisonsView, "comparisons"],
];
let cleanup = () => {};

async function route() {
  cleanup();
  cleanup = () => {};
  const [path, query] = (location.hash.slice(1) || "/jobs").split("?");
  const root = $("#view");
  for (const [pattern, view, nav] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    $$("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
    try {
      const arg = match[1] ?? new URLSearchParams(query || "");
      const done = await view(root, arg);
      cleanup = done || (() => {});
    } catch (err) {
      root.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error", id: "view-error" }, err.message));
    }
    return;
  }
  location.hash = "#/jobs";
}

$("#forget-key").hidden = !sessionStorage.getItem(KEY_STORE);
$("#forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  $("#forget-key").hidden = true;
  flash("Key forgotten for this tab.");
  route();
});
window.addEventListener("hashchange", route);
route();
