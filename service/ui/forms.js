// Forms rendered from the API's OpenAPI component schemas (/openapi.json): every property in schema order,
// typed and bounded by the schema, nested objects as collapsible groups, a union as a choice of its branches.
// A form sends only what the user changed plus what is required, so every default stays the server's; a 422
// is shown at the field its `loc` names, nested ones included.

import { h } from "./dom.js";
import { ApiError, describe, openapiDoc } from "./api.js";
import * as leaf from "./fields.js";

const REF = "#/components/schemas/";

function resolve(doc, schema) {
  let s = schema;
  while (s && s.$ref) s = doc.components.schemas[s.$ref.slice(REF.length)];
  return s;
}

const humanize = (name) => name.charAt(0).toUpperCase() + name.slice(1).replaceAll("_", " ");

/** A property's schema with `anyOf [X, null]` unwrapped and its $ref resolved, and what its label needs. */
function unwrap(doc, name, prop) {
  // A $ref with its own description may come wrapped as `allOf: [{$ref}]`.
  const base = prop.allOf?.length === 1 ? prop.allOf[0] : prop;
  const alts = base.anyOf || base.oneOf;
  let schema = resolve(doc, base);
  let nullable = false;
  if (alts) {
    const rest = alts.filter((a) => a.type !== "null");
    nullable = rest.length < alts.length;
    schema = rest.length === 1 ? resolve(doc, rest[0]) : { oneOf: rest.map((a) => resolve(doc, a)) };
  }
  const def = "default" in prop ? prop.default : schema.default;
  return { schema, nullable, meta: { label: prop.title || humanize(name), help: prop.description || schema.description, def } };
}

function field(ctx, path, name, prop, required) {
  const { schema, nullable, meta } = unwrap(ctx.doc, name, prop);
  const key = path.join(".");
  if (schema.const !== undefined) return { el: null, konst: schema.const, value: () => undefined };
  if (schema.oneOf) return union(ctx, path, schema.oneOf, meta, required);
  if (schema.properties) return group(ctx, path, schema, meta, nullable);
  if (schema.type === "array") {
    const items = resolve(ctx.doc, schema.items || {});
    if (items.enum) return leaf.checks(ctx, key, items.enum, meta, required);
    if (items.properties) return leaf.json(ctx, key, items, meta, required); // a list of objects: as JSON
    return leaf.list(ctx, key, items, meta, nullable, required);
  }
  if (schema.enum) return leaf.select(ctx, key, schema, meta, nullable, required);
  if (schema.type === "boolean") return leaf.bool(ctx, key, meta, nullable, required);
  if (schema.type === "integer" || schema.type === "number") return leaf.number(ctx, key, schema, meta, nullable, required);
  return leaf.text(ctx, key, schema, meta, nullable, required);
}

/** An object's fields, and its body: the fields that send something, or undefined when none does. */
function fields(ctx, path, schema, mode = null) {
  const req = new Set(schema.required || []);
  const names = Object.keys(schema.properties || {}).filter((n) => path.length > 0 || !ctx.omit.has(n));
  names.sort((a, b) => req.has(b) - req.has(a)); // required ones lead; the rest keep the schema's order
  const kids = names.map((n) => [n, field(ctx, [...path, n], n, schema.properties[n], () => req.has(n) || Boolean(mode?.requires(n)))]);
  mode?.attach(kids);
  return {
    els: kids.map(([, k]) => k.el).filter(Boolean),
    consts: Object.fromEntries(kids.filter(([, k]) => k.konst !== undefined).map(([n, k]) => [n, k.konst])),
    value() {
      const out = {};
      for (const [n, k] of kids) {
        const v = k.el?.hidden ? undefined : k.value();
        if (v !== undefined) out[n] = v;
      }
      return Object.keys(out).length ? out : undefined;
    },
  };
}

const details = (key, meta, open, ...body) => h("details", { class: "wide group", open, dataset: { path: key } },
  h("summary", {}, meta.label), meta.help && h("p", { class: "help" }, meta.help), ...body);

/** A nested object, collapsible. A nullable one has a "use" choice: default (not sent: the server's recipe
 * decides), on (sent, {} at least) or off (null); editing a field inside turns it on. */
function group(ctx, path, schema, meta, nullable) {
  const key = path.join(".");
  const body = fields(ctx, path, schema);
  if (!nullable) return { el: details(key, meta, true, h("div", { class: "grid" }, ...body.els)), value: body.value };
  const use = h("select", {}, h("option", { value: "" }, "default"), h("option", { value: "on" }, "on"), h("option", { value: "off" }, "off"));
  const el = details(key, meta, false, h("div", { class: "grid" }, leaf.labelled(ctx, key, { label: "Use" }, use)),
    h("div", { class: "grid" }, ...body.els));
  const turnOn = (event) => { if (event.target !== use && use.value === "") use.value = "on"; };
  el.addEventListener("input", turnOn);
  el.addEventListener("change", turnOn);
  return {
    el,
    value() {
      if (use.value === "off") return null;
      const v = body.value();
      return use.value === "on" ? (v ?? {}) : v;
    },
  };
}

/** A union of objects (a job's `data`: the sine's parameters or a dataset), a choice of branches named by
 * their constant tag (a view may name the first one in `values`). The first branch left unchanged is the
 * server's default, so it sends nothing, unless the union is required. */
function union(ctx, path, branches, meta, required) {
  const key = path.join(".");
  const bodies = branches.map((b) => fields(ctx, path, b));
  const tag = (i) => String(Object.values(bodies[i].consts)[0] ?? branches[i].title);
  const first = Math.max(0, branches.findIndex((_, i) => tag(i) === ctx.values[key]));
  const choice = h("select", {}, ...branches.map((b, i) => h("option", { value: i, title: b.description, selected: i === first }, tag(i))));
  const panels = bodies.map((body, i) => h("fieldset", { class: "grid wide branch", dataset: { branch: tag(i) } }, ...body.els));
  const show = () => panels.forEach((p, i) => { p.hidden = p.disabled = String(i) !== choice.value; });
  choice.addEventListener("change", show);
  show();
  const el = details(key, meta, first > 0 || required(), h("div", { class: "grid" }, leaf.labelled(ctx, key, { label: "Use" }, choice)), ...panels);
  return {
    el,
    value() {
      const i = Number(choice.value);
      const v = bodies[i].value();
      return i === 0 && v === undefined && !required() ? undefined : { ...bodies[i].consts, ...v };
    },
  };
}

/** Fields of which a request takes at most one (a forecast's start, origin or context: the schema's
 * `x-rnncast-at-most-one-of`): a choice that shows the chosen field and requires it. */
function modeChoice(ctx, schema) {
  const names = (schema["x-rnncast-at-most-one-of"] || [])
    .filter((n) => schema.properties?.[n] && !ctx.omit.has(n));
  if (names.length < 2) return null;
  const select = h("select", {}, ...names.map((n) => h("option", { value: n }, schema.properties[n].title || humanize(n))));
  let kids = [];
  const show = () => kids.forEach(([n, k]) => { if (names.includes(n)) k.el.hidden = n !== select.value; });
  select.addEventListener("change", show);
  return {
    el: leaf.labelled(ctx, "mode", { label: "From", help: schema.description }, select),
    requires: (n) => select.value === n,
    attach(k) { kids = k; show(); },
  };
}

const live = (c) => !c.control.matches(":disabled") && !c.control.closest("[hidden]");

/** The control a 422's `loc` names: its exact path, else that path less one part (a union's tag, as in
 * data.sine.points), else its nearest enclosing field. */
function locate(ctx, path) {
  const at = new Map(ctx.controls.filter(live).map((c) => [c.key, c]));
  const tries = [path, ...path.map((_, i) => path.filter((__, j) => j !== i)), ...path.map((_, i) => path.slice(0, -1 - i))];
  const hit = tries.find((p) => p.length && at.has(p.join(".")));
  return hit ? at.get(hit.join(".")) : null;
}

function showErrors(ctx, general, err) {
  for (const { control, error } of ctx.controls) {
    error.textContent = "";
    control.removeAttribute("aria-invalid");
  }
  general.textContent = "";
  if (!err) return;
  if (!(err instanceof ApiError)) { general.textContent = String(err.message || err); return; }
  const items = Array.isArray(err.detail) ? err.detail : [{ loc: [], msg: describe(err.detail) }];
  for (const item of items) {
    const path = (item.loc || []).slice(1).filter((p) => typeof p === "string");
    const hit = locate(ctx, path);
    if (!hit) {
      general.textContent += `${general.textContent ? "; " : ""}${path.length ? `${path.join(".")}: ` : ""}${item.msg}`;
      continue;
    }
    hit.control.setAttribute("aria-invalid", "true");
    hit.error.textContent += `${hit.error.textContent ? "; " : ""}${item.msg}`;
    for (let d = hit.control.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
  }
}

/**
 * A form for the component schema `component` of /openapi.json.
 *
 * `component` may also be an object schema the view made from the document (a route's query parameters).
 * Options: id; submit (the button's text); note (a line beside it); omit (top-level fields not shown);
 * values (first values by dotted path, where the view knows better than the schema; a union's branch by
 * its tag); lead (elements before the fields, e.g. a file input); onSubmit(body), whose error is shown at
 * its fields and passed to onError(err).
 */
export async function schemaForm(component, { id, submit, note, omit = [], values = {}, lead = [], onSubmit, onError }) {
  const doc = await openapiDoc();
  const ctx = { doc, controls: [], omit: new Set(omit), values };
  const schema = typeof component === "string" ? resolve(doc, { $ref: REF + component }) : component;
  const mode = modeChoice(ctx, schema);
  const body = fields(ctx, [], schema, mode);
  const general = h("p", { class: "error form-error" });
  const button = h("button", { type: "submit" }, submit);
  const form = h("form", { class: "grid", id, novalidate: true }, ...lead, mode?.el, ...body.els,
    h("div", { class: "wide actions" }, button, note && h("span", { class: "muted" }, note), general));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await onSubmit(body.value() ?? {});
      showErrors(ctx, general, null);
    } catch (err) {
      showErrors(ctx, general, err);
      onError?.(err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
