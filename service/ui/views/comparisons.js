// Comparisons: the list with its form (ComparisonCreate, from the schema: cells, seeds, the `train`
// options, the forecast) and one comparison's page.

import { h, age, card, flash, fmt, statusBadge } from "../dom.js";
import { api, loadImage } from "../api.js";
import { schemaForm } from "../forms.js";

export async function comparisonsView(root) {
  const page = await api("GET", "/v1/comparisons?limit=50");
  const form = await schemaForm("ComparisonCreate", {
    id: "comparison-form", submit: "Start comparison", note: "Fields left as they are take the server's defaults.",
    async onSubmit(body) {
      const study = await api("POST", "/v1/comparisons", body);
      flash(`Comparison ${study.id.slice(0, 8)} started: ${study.runs.length} runs.`);
      location.hash = `#/comparisons/${study.id}`;
    },
    onError(err) { flash(`The comparison was refused: ${err.message}`, true); },
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

/** An ensemble forecast (EnsembleRequest, from the schema): every succeeded run's model continues one window;
 * per cell, its seeds' spread and errors, and the API's figure of the same request (not for pasted context). */
async function ensembleForm(id, onDataset) {
  const table = h("tbody");
  const figure = h("img", { alt: "each cell's mean forecast with its band", id: "ensemble-png", hidden: true });
  const form = await schemaForm("EnsembleRequest", {
    id: "ensemble-form", submit: "Ensemble forecast",
    omit: [onDataset ? "start" : "origin"],
    async onSubmit(body) {
      const fc = await api("POST", `/v1/comparisons/${id}/forecast`, body);
      table.replaceChildren(...Object.entries(fc.cells).map(([cell, band]) => h("tr", { dataset: { cell } },
        h("td", {}, cell), h("td", {}, band.n), h("td", {}, fmt(band.mse_of_mean)),
        h("td", {}, band.seeds.map((s) => `${s.seed}: ${fmt(s.mse)}`).join(", ") || "–"))));
      figure.hidden = Boolean(body.context);
      if (!body.context) await loadImage(figure, `/v1/comparisons/${id}/forecast.png?${new URLSearchParams(body)}`);
    },
    onError(err) { flash(`Ensemble forecast failed: ${err.message}`, true); },
  });
  return h("div", {}, form,
    h("div", { class: "table-wrap" }, h("table", { id: "ensemble-table" },
      h("thead", {}, h("tr", {}, ...["cell", "seeds", "MSE of the mean", "MSE per seed"].map((t) => h("th", {}, t)))), table)),
    h("div", { class: "figures" }, figure));
}

function statCell(stat) {
  if (!stat || stat.n === 0) return "–";
  return `${fmt(stat.mean)} ± ${fmt(stat.std, 2)} (n=${stat.n})`;
}

export async function comparisonView(root, id) {
  const first = await api("GET", `/v1/comparisons/${id}`);
  const ensemble = await ensembleForm(id, (first.train.data || {}).kind === "dataset");
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
    h("h2", {}, "Figures"), h("div", { class: "figures" }, loss, preds),
    h("h2", {}, "Ensemble forecast"), ensemble);
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
