// Datasets: the list with the three ways in (a CSV file, pasted values, a generated signal: their fields from
// the schema) and one dataset's page (its numbers, its plot, training on it, deleting it).

import { h, age, card, flash, fmt, pager } from "../dom.js";
import { api, loadImage, openapiDoc } from "../api.js";
import { schemaForm } from "../forms.js";

const stored = (d) => {
  flash(`Dataset ${d.id.slice(0, 8)} stored: ${d.length} values.`);
  location.hash = `#/datasets/${d.id}`;
};
const refused = (err) => flash(`The dataset was refused: ${err.message}`, true);

/** The CSV upload's own options are the route's query parameters (column, name, step), read from the
 * document as an object schema the form renders like any other. */
async function csvForm() {
  const doc = await openapiDoc();
  const params = doc.paths["/v1/datasets"].post.parameters || [];
  const schema = { type: "object", properties: Object.fromEntries(params.filter((p) => p.in === "query")
    .map((p) => [p.name, { ...p.schema, description: p.description ?? p.schema.description }])) };
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv,text/plain", required: true });
  return schemaForm(schema, {
    id: "dataset-csv-form", submit: "Upload",
    lead: [h("label", { class: "wide" }, "CSV file", file)],
    async onSubmit(query) {
      if (!file.files.length) throw new Error("choose a CSV file first");
      const body = new FormData();
      body.append("file", file.files[0]);
      // A list (tags) is sent as the parameter repeated, once per item.
      const search = new URLSearchParams(Object.entries(query).flatMap(([k, v]) => [v].flat().map((one) => [k, one])));
      stored(await api("POST", `/v1/datasets?${search}`, body));
    },
    onError: refused,
  });
}

const jsonForm = (component, id, submit) => schemaForm(component, {
  id, submit, async onSubmit(body) { stored(await api("POST", "/v1/datasets", body)); }, onError: refused,
});

const section = (title, open, form) => h("details", { class: "group add", open }, h("summary", {}, title), form);

export async function datasetsView(root, params) {
  const limit = 20;
  let offset = Number(params.get("offset") || 0);
  const body = h("tbody");
  const foot = h("div");
  root.replaceChildren(
    h("h1", {}, "Datasets"),
    h("div", { class: "adders" },
      section("Upload a CSV file", true, await csvForm()),
      section("Paste values", false, await jsonForm("DatasetValues", "dataset-values-form", "Store values")),
      section("Generate a signal", false, await jsonForm("DatasetGenerated", "dataset-generator-form", "Generate"))),
    h("div", { class: "table-wrap" }, h("table", { id: "datasets-table" },
      h("thead", {}, h("tr", {}, ...["dataset", "name", "length", "step", "mean", "std", "source", "created", ""]
        .map((t) => h("th", {}, t)))), body)),
    foot);

  async function remove(d) {
    if (!window.confirm(`Delete dataset ${d.id.slice(0, 8)} (${d.name})? Models trained on it keep their copy.`)) return;
    try {
      await api("DELETE", `/v1/datasets/${d.id}`);
      flash(`Dataset ${d.id.slice(0, 8)} deleted.`);
      await refresh();
    } catch (err) {
      flash(`Delete failed: ${err.message}`, true);
    }
  }

  async function refresh() {
    const page = await api("GET", `/v1/datasets?${new URLSearchParams({ limit, offset })}`);
    body.replaceChildren(...page.data.map((d) => h("tr", { dataset: { datasetId: d.id } },
      h("td", {}, h("a", { href: `#/datasets/${d.id}` }, d.id.slice(0, 8))), h("td", {}, d.name),
      h("td", {}, d.length), h("td", {}, fmt(d.step)), h("td", {}, fmt(d.stats.mean)), h("td", {}, fmt(d.stats.std)),
      h("td", {}, d.source.generator ? d.source.generator.kind : d.source.format || ""), h("td", { title: d.created_at }, age(d.created_at)),
      h("td", {}, h("button", { type: "button", class: "secondary", dataset: { delete: d.id }, onclick: () => remove(d) }, "Delete")))));
    foot.replaceChildren(pager(offset, limit, page.count, (o) => {
      offset = o;
      refresh().catch((err) => flash(err.message, true));
    }));
  }
  await refresh();
  return () => {};
}

export async function datasetView(root, id) {
  const d = await api("GET", `/v1/datasets/${id}`);
  const plot = h("img", { alt: `dataset ${d.name}`, id: "dataset-png" });

  async function remove() {
    if (!window.confirm(`Delete dataset ${id.slice(0, 8)} (${d.name})? Models trained on it keep their copy.`)) return;
    try {
      await api("DELETE", `/v1/datasets/${id}`);
      flash(`Dataset ${id.slice(0, 8)} deleted.`);
      location.hash = "#/datasets";
    } catch (err) {
      flash(`Delete failed: ${err.message}`, true);
    }
  }

  root.replaceChildren(
    h("h1", {}, `Dataset ${id.slice(0, 8)} `, h("span", { class: "muted" }, d.name)),
    h("div", { class: "cards" },
      card("values", d.length, { id: "dataset-length" }), card("step", fmt(d.step)),
      card("mean", fmt(d.stats.mean)), card("std", fmt(d.stats.std)), card("min", fmt(d.stats.min)),
      card("max", fmt(d.stats.max)), card("created", `${age(d.created_at)} ago`),
      card("sha256", `${d.sha256.slice(0, 16)}…`, { title: d.sha256 })),
    h("div", { class: "actions" },
      h("a", { href: `#/jobs?dataset=${id}`, id: "train-on-dataset" }, "Train a model on it →"),
      h("button", { type: "button", class: "danger", id: "delete-dataset", onclick: remove }, "Delete dataset")),
    h("h2", {}, "Values"), h("div", { class: "figures" }, plot),
    h("h2", {}, "Source"), h("pre", { class: "params" }, JSON.stringify(d.source, null, 2)));
  await loadImage(plot, `/v1/datasets/${id}/plot.png`);
  return () => {};
}
