// Training jobs: the list with its new-job form (every JobCreate field, from the schema) and one job's page.

import { h, age, card, duration, flash, fmt, pager, statusBadge } from "../dom.js";
import { FINAL, api, followJob } from "../api.js";
import { lossChart } from "../charts.js";
import { schemaForm } from "../forms.js";

/** The new-job form; `dataset` (from a dataset's page) chooses the data's dataset branch with that id. */
function jobForm(dataset) {
  return schemaForm("JobCreate", {
    id: "job-form", submit: "Start training", note: "Fields left as they are take the server's defaults.",
    values: dataset ? { data: "dataset", "data.dataset_id": dataset } : {},
    async onSubmit(body) {
      const job = await api("POST", "/v1/jobs", body);
      flash(`Job ${job.id.slice(0, 8)} queued.`);
      location.hash = `#/jobs/${job.id}`;
    },
    onError(err) { flash(`The job was refused: ${err.message}`, true); },
  });
}

export async function jobsView(root, params) {
  const limit = 20;
  let offset = Number(params.get("offset") || 0);
  const status = params.get("status") || "";
  const filter = h("select", { id: "status-filter", onchange: () => { location.hash = `#/jobs?status=${filter.value}`; } },
    ...["", "queued", "running", "succeeded", "failed", "cancelled"].map((s) => h("option", { value: s, selected: s === status }, s || "all statuses")));
  const body = h("tbody");
  const foot = h("div");
  // The form first: on a page of twenty jobs it would sit below the fold.
  root.replaceChildren(
    h("h1", {}, "New training job"),
    await jobForm(params.get("dataset")),
    h("h2", {}, "Training jobs"),
    h("div", { class: "toolbar" }, h("label", {}, "Status", filter)),
    h("div", { class: "table-wrap" }, h("table", { id: "jobs-table" },
      h("thead", {}, h("tr", {}, ...["job", "name", "cell", "status", "epoch", "train loss", "test loss", "age"].map((t) => h("th", {}, t)))),
      body)),
    foot);

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

const ETA_WINDOW = 20; // epochs: recent enough to follow a change of pace, enough to smooth it

/** Seconds per epoch from the epochs' end times as the worker stamped them (`at`), never from when the
 * events reached the page: a page opened mid-run receives the past epochs in one burst. From the last
 * ETA_WINDOW epochs; with one epoch known, from the job's start (its first attempt's); null before that. */
export function secondsPerEpoch(times, job) {
  const recent = times.slice(-ETA_WINDOW);
  if (recent.length >= 2) {
    const [a, b] = [recent[0], recent.at(-1)];
    return Math.max(0, (b.at - a.at) / 1000 / (b.epoch - a.epoch));
  }
  if (recent.length === 1 && job.started_at && job.attempts <= 1) {
    return Math.max(0, (recent[0].at - Date.parse(job.started_at)) / 1000 / recent[0].epoch);
  }
  return null;
}

export async function jobView(root, id) {
  let job = await api("GET", `/v1/jobs/${id}`);
  const chartBox = h("div", { class: "chart", id: "loss-chart" });
  const cards = h("div", { class: "cards" });
  const bar = h("div", { class: "progress" }, h("div"));
  const text = h("p", { id: "progress-text", class: "muted" }); // held, not looked up: this view may be gone
  const cancelButton = h("button", { type: "button", class: "danger", id: "cancel-job", onclick: () => cancel() }, "Cancel");
  const modelLink = h("a", { id: "model-link", hidden: true }, "Open its model →");
  const actions = h("div", { class: "actions" }, cancelButton, modelLink);
  root.replaceChildren(
    h("h1", {}, `Job ${id.slice(0, 8)} `, h("span", { class: "muted" }, job.name || "")),
    bar, text,
    cards, actions,
    h("h2", {}, "Loss"), chartBox,
    h("h2", {}, "Parameters"), h("pre", { class: "params" }, JSON.stringify(job.params, null, 2)));
  const chart = lossChart(chartBox);
  chart.set(job.history);
  const times = []; // {epoch, at (ms)} of this attempt's epochs, from the events' own end times

  function render() {
    const p = job.progress;
    const done = p.epochs ? p.epoch / p.epochs : 0;
    bar.firstChild.style.width = `${(100 * done).toFixed(1)}%`;
    const perEpoch = job.status === "running" ? secondsPerEpoch(times, job) : null;
    let eta = "";
    if (perEpoch !== null && p.epochs) {
      const left = perEpoch * (p.epochs - p.epoch);
      eta = ` · ETA ${duration(left)}`;
      text.dataset.etaS = String(Math.round(left));
      text.dataset.secondsPerEpoch = String(perEpoch);
    } else {
      delete text.dataset.etaS;
      delete text.dataset.secondsPerEpoch;
    }
    text.textContent = `epoch ${p.epoch}/${p.epochs ?? "?"}${eta}`;
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
        if (times.length && e.epoch <= times.at(-1).epoch) times.length = 0; // a new attempt went back
        if (e.at) times.push({ epoch: e.epoch, at: Date.parse(e.at) });
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
