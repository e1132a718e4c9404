// Models: the list, and one model's page with its forecast form (ForecastRequest, from the schema).

import { h, age, card, flash, fmt } from "../dom.js";
import { api, loadImage, openapiDoc } from "../api.js";
import { forecastChart } from "../charts.js";
import { schemaForm } from "../forms.js";
import { exportLinks, importForm } from "./transfer.js";

/** A model's aliases (its record names them), each a link to its page. */
const aliasLinks = (m) => (m.aliases || []).map((n) => h("a", { href: `#/aliases/${n}`, class: "alias" }, `@${n}`));

export async function modelsView(root) {
  const page = await api("GET", "/v1/models?limit=100");
  root.replaceChildren(
    h("h1", {}, "Models"),
    h("div", { class: "table-wrap" }, h("table", { id: "models-table" },
      h("thead", {}, h("tr", {}, ...["model", "name", "cell", "epochs", "parameters", "test loss", "aliases", "created"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...page.data.map((m) => h("tr", { dataset: { modelId: m.id } },
        h("td", {}, h("a", { href: `#/models/${m.id}` }, m.id.slice(0, 8))), h("td", {}, m.name || ""), h("td", {}, m.cell),
        h("td", {}, m.epochs_trained), h("td", {}, m.parameters), h("td", {}, fmt(m.metrics.test_loss)),
        h("td", { class: "aliases" }, ...aliasLinks(m)), h("td", { title: m.created_at }, age(m.created_at))))))),
    h("p", { class: "muted" }, `${page.count} model(s)`), importForm());
  return () => {};
}

function sineContext(data, seq, start) {
  const step = data.stop / (data.points - 1);
  const x = Array.from({ length: seq }, (_, i) => start - (seq - i) * step);
  return { x, y: x.map((t) => data.amplitude * Math.sin(2 * Math.PI * t / data.period + data.phase)) };
}

/** The lines to draw: the context the forecast went on from (where it is known), the truth, the prediction. */
function forecastLines(model, body, fc) {
  const css = getComputedStyle(document.documentElement);
  const fg = css.getPropertyValue("--fg").trim();
  const lines = [];
  if (body.context) {
    lines.push({ label: "context", x: body.context.map((_, i) => i - body.context.length), y: body.context, color: fg });
  } else if (body.start !== undefined) {
    lines.push({ label: "context", ...sineContext(model.params.data, model.params.sequence_length, body.start), color: fg });
  }
  if (fc.exact) lines.push({ label: "exact", x: fc.x.slice(0, fc.exact.length), y: fc.exact, color: "#9aa3b2" });
  const color = css.getPropertyValue("--train").trim();
  // Widest first: each band shades from its upper to its lower bound.
  for (const band of [...(fc.intervals || [])].sort((a, b) => b.level - a.level)) {
    const alpha = Math.round(255 * (0.12 + 0.1 * (1 - band.level))).toString(16).padStart(2, "0");
    lines.push({ label: `${band.level} upper`, x: fc.x, y: band.upper, color, dash: [4, 4], fill: color + alpha });
    lines.push({ label: `${band.level} lower`, x: fc.x, y: band.lower, color, dash: [4, 4] });
  }
  lines.push({ label: "prediction", x: fc.x, y: fc.y, color, points: true });
  return lines;
}

/** The intervals' widths, said in words: first and last step of each level. */
function intervalText(fc) {
  if (!fc.intervals) return "";
  const last = fc.y.length - 1;
  const width = (b, k) => (b.upper[k] !== null && b.lower[k] !== null ? fmt(b.upper[k] - b.lower[k]) : "n/a");
  const parts = fc.intervals.map((b) => `${b.level} interval width ${width(b, 0)} at step 1, ${width(b, last)} at step ${last + 1}`);
  const beyond = fc.calibrated_steps !== null && fc.y.length > fc.calibrated_steps
    ? ` (calibrated for ${fc.calibrated_steps} steps; later ones extrapolated)` : "";
  return ` · ${parts.join("; ")}${beyond}`;
}

async function forecastForm(model, chartBox, result) {
  const onDataset = (model.params.data || {}).kind === "dataset";
  const doc = await openapiDoc();
  let chart = null;
  const form = await schemaForm("ForecastRequest", {
    id: "forecast-form", submit: "Forecast",
    // A sine model goes on from a phase (start), a dataset model from a position (origin); the chart needs
    // every field of the answer.
    omit: [onDataset ? "start" : "origin", "fields"],
    // A sine model's first start: where a comparison's forecast starts.
    values: onDataset ? {} : { start: doc.components.schemas.ForecastSpec?.properties.start?.default },
    async onSubmit(body) {
      const fc = await api("POST", `/v1/models/${model.id}/forecast`, body);
      if (chart) chart.destroy();
      chartBox.replaceChildren();
      chart = forecastChart(chartBox, forecastLines(model, body, fc));
      result.textContent = fc.mse !== undefined && fc.mse !== null
        ? `MSE ${fmt(fc.mse)} · max abs error ${fmt(fc.max_abs_error)} over ${fc.exact.length} step(s)`
        : `${fc.y.length} step(s) predicted (no true values to compare with)`;
      result.textContent += intervalText(fc);
      result.dataset.mse = fc.mse ?? "";
    },
    onError(err) {
      result.textContent = "";
      flash(`Forecast failed: ${err.message}`, true);
    },
  });
  return { form, destroy: () => chart?.destroy() };
}

const SCORED = [["model", "model"], ["naive", "naive"], ["seasonal_naive", "seasonal naive"]];

/** A rolling-origin backtest (BacktestRequest, from the schema): its scores against the two baselines, and its
 * figure (MSE by horizon step) drawn by the API for the same request. */
async function backtestForm(model) {
  const table = h("tbody");
  const result = h("p", { id: "backtest-result", class: "muted" });
  const figure = h("img", { alt: "backtest MSE by horizon step", id: "backtest-png", hidden: true });
  const form = await schemaForm("BacktestRequest", {
    id: "backtest-form", submit: "Backtest",
    async onSubmit(body) {
      const bt = await api("POST", `/v1/models/${model.id}/backtest`, body);
      table.replaceChildren(...SCORED.map(([key, label]) => h("tr", { class: bt.best_baseline === key ? "best" : "", dataset: { scores: key } },
        h("td", {}, label), h("td", {}, fmt(bt[key].mse)), h("td", {}, fmt(bt[key].mae)), h("td", {}, fmt(bt[key].smape)))));
      result.textContent = `${bt.origins} origin(s) × ${bt.horizon} step(s) from position ${bt.test_start}; season ${bt.season} `
        + `(${bt.season_source}); skill ${fmt(bt.skill)} against the ${(bt.best_baseline || "–").replace("_", " ")} baseline`;
      result.dataset.skill = bt.skill ?? "";
      const query = new URLSearchParams(body); // the same request: what the form left out is the server's default
      figure.hidden = false;
      await loadImage(figure, `/v1/models/${model.id}/backtest.png?${query}`);
    },
    onError(err) { flash(`Backtest failed: ${err.message}`, true); },
  });
  return h("div", {}, form, result,
    h("div", { class: "table-wrap" }, h("table", { id: "backtest-table" },
      h("thead", {}, h("tr", {}, ...["forecast", "MSE", "MAE", "sMAPE %"].map((t) => h("th", {}, t)))), table)),
    h("div", { class: "figures" }, figure));
}

export async function modelView(root, id) {
  const model = await api("GET", `/v1/models/${id}`);
  const chartBox = h("div", { class: "chart", id: "forecast-chart" });
  const result = h("p", { id: "forecast-result", class: "muted" });
  const forecast = await forecastForm(model, chartBox, result);

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
      card("calibration", model.calibration ? `${model.calibration.origins} origins × ${model.calibration.steps} steps` : "none (no intervals)", { id: "model-calibration" }),
      card("checkpoint sha256", model.checkpoint.sha256.slice(0, 16) + "…", { title: model.checkpoint.sha256, id: "model-digest" }),
      card("aliases", model.aliases && model.aliases.length ? h("span", {}, ...aliasLinks(model)) : "none", { id: "model-aliases" })),
    h("div", { class: "actions" },
      model.job_id ? h("a", { href: `#/jobs/${model.job_id}` }, "Its training job")
        : h("span", { class: "muted" }, "Imported (no training job here)"),
      h("a", { href: `#/aliases?model=${model.id}`, id: "alias-model-link" }, "Point an alias at it"),
      ...exportLinks(model.id),
      h("button", { type: "button", class: "danger", id: "delete-model", onclick: remove }, "Delete model")),
    h("h2", {}, "Forecast"), forecast.form, result, chartBox,
    h("h2", {}, "Backtest"), await backtestForm(model),
    h("h2", {}, "Parameters"), h("pre", { class: "params" }, JSON.stringify(model.params, null, 2)));
  return forecast.destroy;
}
