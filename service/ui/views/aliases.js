// Aliases: the list (each alias, the model it points at, its last move), a form to point one at a model behind
// an optional promotion gate (the route's `name` and AliasMove, both from the schema), one alias's history with
// the evidence each gated move was judged on, and delete. A gate's refusal (409) shows its evidence too.

import { h, age, card, flash, fmt } from "../dom.js";
import { ApiError, api, openapiDoc } from "../api.js";
import { schemaForm } from "../forms.js";

const short = (id) => (id ? id.slice(0, 8) : "–");
const modelLink = (id) => (id ? h("a", { href: `#/models/${id}`, title: id }, short(id)) : "none");

/** The gate's figures, in the schema's order (PromotionGate's properties): no figure is named in this code. */
async function gateFields() {
  const doc = await openapiDoc();
  return Object.keys(doc.components.schemas.PromotionGate.properties);
}

const figure = (name, value) => h("td", { dataset: { field: name, value: value ?? "" } }, value === null || value === undefined ? "–" : fmt(value, 4));

/** What a gated move was judged on: the bars, both models' figures, and why it did not pass. */
export async function evidenceView(ev, attrs = {}) {
  const names = await gateFields();
  const row = (role, label, f) => h("tr", { dataset: { role } }, h("th", {}, label), h("td", {}, f ? modelLink(f.model_id) : "none"),
    ...names.map((n) => figure(n, f ? f[n] : null)),
    h("td", { title: f?.at }, f ? `${f.source}: ${f.origins} origin(s) × ${f.horizon} step(s), ${age(f.at)} ago` : ""));
  return h("div", { class: "evidence", dataset: { passed: ev.passed }, ...attrs },
    h("p", { class: ev.passed ? "ok" : "error" }, ev.passed ? "The gate passed." : "The gate refused the move."),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "model"), ...names.map((n) => h("th", {}, n.replaceAll("_", " "))),
        h("th", {}, "backtest"))),
      h("tbody", {},
        h("tr", { dataset: { role: "require" } }, h("th", {}, "required"), h("td", {}, ""), ...names.map((n) => figure(n, ev.require[n])), h("td", {}, "")),
        row("candidate", "candidate", ev.candidate), row("current", "current", ev.current)))),
    ev.reasons.length ? h("ul", { class: "reasons" }, ...ev.reasons.map((r) => h("li", {}, r))) : null);
}

/** The move form's schema: the route's path parameter `name`, then AliasMove's own fields. */
async function moveSchema() {
  const doc = await openapiDoc();
  const param = doc.paths["/v1/aliases/{name}"].post.parameters.find((p) => p.in === "path" && p.name === "name");
  const move = doc.components.schemas.AliasMove;
  return {
    type: "object", required: ["name", ...(move.required || [])],
    properties: { name: { ...param.schema, description: param.description ?? param.schema.description }, ...move.properties },
  };
}

async function moveForm(result, values, done) {
  const form = await schemaForm(await moveSchema(), {
    id: "alias-form", submit: "Point the alias", values,
    note: "With a gate, the candidate's backtest must meet each bar and match the current model's.",
    async onSubmit({ name, ...move }) {
      result.replaceChildren();
      if (!name) throw new Error("name: give the alias a name");
      try {
        const answer = await api("POST", `/v1/aliases/${encodeURIComponent(name)}`, move);
        const text = answer.moved
          ? `@${name} now points at ${short(answer.alias.model_id)} (before: ${short(answer.previous_model_id) === "–" ? "nothing" : short(answer.previous_model_id)}).`
          : `@${name} already pointed at ${short(answer.alias.model_id)}.`;
        result.replaceChildren(h("p", { class: "ok", id: "alias-moved" }, text),
          answer.evidence && await evidenceView(answer.evidence, { id: "alias-evidence" }));
        flash(text);
        await done();
      } catch (err) {
        if (err instanceof ApiError && err.status === 409 && err.body?.evidence) {
          result.replaceChildren(h("p", { class: "error", id: "alias-refused" }, String(err.body.detail)),
            await evidenceView(err.body.evidence, { id: "alias-evidence" }));
        }
        throw err;
      }
    },
    onError(err) { flash(`The alias was not moved: ${err.message}`, true); },
  });
  form.querySelectorAll("details[data-path=require]").forEach((d) => { d.open = true; }); // the gate in view
  return form;
}

async function removeAlias(name, then) {
  if (!window.confirm(`Delete alias @${name} and its history? Its model stays.`)) return;
  try {
    await api("DELETE", `/v1/aliases/${encodeURIComponent(name)}`);
    flash(`Alias @${name} deleted.`);
    await then();
  } catch (err) {
    flash(`Delete failed: ${err.message}`, true);
  }
}

export async function aliasesView(root, params) {
  const body = h("tbody");
  const count = h("p", { class: "muted" });
  const result = h("div", { id: "alias-result" });
  async function refresh() {
    const page = await api("GET", "/v1/aliases?limit=1000");
    body.replaceChildren(...page.data.map((a) => h("tr", { dataset: { alias: a.name } },
      h("td", {}, h("a", { href: `#/aliases/${a.name}` }, `@${a.name}`)), h("td", { dataset: { model: a.model_id } }, modelLink(a.model_id)),
      h("td", {}, a.moves), h("td", { title: a.moved_at }, `${age(a.moved_at)} ago`),
      h("td", {}, h("button", { type: "button", class: "secondary", dataset: { delete: a.name }, onclick: () => removeAlias(a.name, refresh) }, "Delete")))));
    count.textContent = `${page.count} alias(es)`;
  }
  const values = Object.fromEntries([["name", params.get("name")], ["model_id", params.get("model")]].filter(([, v]) => v));
  root.replaceChildren(
    h("h1", {}, "Aliases"),
    h("p", { class: "muted" }, "An alias names one model: @name stands for it in every model route."),
    h("details", { class: "group add", open: true }, h("summary", {}, "Point an alias at a model"), await moveForm(result, values, refresh)),
    result,
    h("div", { class: "table-wrap" }, h("table", { id: "aliases-table" },
      h("thead", {}, h("tr", {}, ...["alias", "model", "moves", "last move", ""].map((t) => h("th", {}, t)))), body)),
    count);
  await refresh();
  return () => {};
}

export async function aliasView(root, name) {
  const a = await api("GET", `/v1/aliases/${encodeURIComponent(name)}`);
  const moves = await Promise.all([...a.history].reverse().map(async (m) => h("section", { class: "move", dataset: { seq: m.seq } },
    h("h3", {}, `#${m.seq} `, modelLink(m.from), " → ", modelLink(m.to), h("span", { class: "muted", title: m.at }, ` ${age(m.at)} ago`)),
    m.evidence ? await evidenceView(m.evidence) : h("p", { class: "muted" }, "no gate"))));
  root.replaceChildren(
    h("h1", {}, `Alias @${a.name}`),
    h("div", { class: "cards" },
      card("model", modelLink(a.model_id), { id: "alias-model" }), card("moves", a.moves),
      card("last move", `${age(a.moved_at)} ago`), card("created", `${age(a.created_at)} ago`)),
    h("div", { class: "actions" },
      h("a", { href: `#/aliases?${new URLSearchParams({ name: a.name, model: a.model_id })}` }, "Move it →"),
      h("button", { type: "button", class: "danger", id: "delete-alias", onclick: () => removeAlias(a.name, async () => { location.hash = "#/aliases"; }) }, "Delete alias")),
    h("h2", {}, "History, newest first"), h("div", { id: "alias-history" }, ...moves));
  return () => {};
}
