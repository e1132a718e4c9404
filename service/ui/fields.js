// One schema property -> one labelled control, and what it puts in a request body: nothing (undefined)
// unless the user changed it or the field is required, so every default stays the server's.

import { h } from "./dom.js";

let uid = 0;

const show = (v) => (Array.isArray(v) ? v.join(", ") : String(v));

/** Whether a raw control value goes into the body: never when empty, else when changed or required. */
const sent = (raw, start, required) => raw !== "" && (raw !== start || required());

/** A label holding the control, its help text (aria-describedby) and its error slot; registered for 422s. */
export function labelled(ctx, key, meta, control, attrs = {}) {
  control.name = key;
  const error = h("span", { class: "field-error", dataset: { errorFor: key } });
  let help = null;
  if (meta.help) {
    help = h("span", { class: "help", id: `help-${++uid}` }, meta.help);
    control.setAttribute("aria-describedby", help.id);
  }
  ctx.controls.push({ key, control, error });
  return h("label", { title: meta.help, ...attrs }, meta.label, control, help, error);
}

/** What a control starts with: a value the view gives, else a non-null default. A nullable field starts
 * empty with its default as a placeholder: left empty it sends nothing, and the server's recipe applies. */
function initial(ctx, key, meta, nullable) {
  if (ctx.values[key] !== undefined) return { value: ctx.values[key], hint: "" };
  const known = meta.def !== undefined && meta.def !== null;
  if (nullable || !known) return { value: null, hint: known ? `default: ${show(meta.def)}` : (nullable ? "default" : "") };
  return { value: meta.def, hint: "" };
}

export function number(ctx, key, schema, meta, nullable, required) {
  const { value, hint } = initial(ctx, key, meta, nullable);
  const start = value === null ? "" : String(value);
  const input = h("input", {
    type: "number", value: start, placeholder: hint, step: schema.type === "integer" ? 1 : "any",
    min: schema.minimum ?? schema.exclusiveMinimum, max: schema.maximum ?? schema.exclusiveMaximum,
  });
  return { el: labelled(ctx, key, meta, input), value: () => (sent(input.value.trim(), start, required) ? Number(input.value) : undefined) };
}

export function text(ctx, key, schema, meta, nullable, required) {
  const { value, hint } = initial(ctx, key, meta, nullable);
  const start = value === null ? "" : String(value);
  const input = h("input", {
    type: "text", value: start, placeholder: hint, maxlength: schema.maxLength, minlength: schema.minLength, pattern: schema.pattern,
  });
  return { el: labelled(ctx, key, meta, input), value: () => (sent(input.value.trim(), start, required) ? input.value.trim() : undefined) };
}

/** An enum (a Literal): a select, led by a "default" choice where the field may be left to the server. */
export function select(ctx, key, schema, meta, nullable, required) {
  const { value, hint } = initial(ctx, key, meta, nullable);
  const options = schema.enum.map((v) => h("option", { value: String(v), selected: value !== null && String(v) === String(value) }, String(v)));
  if (value === null && !required()) options.unshift(h("option", { value: "", selected: true }, hint || "default"));
  const control = h("select", {}, ...options);
  const start = control.value;
  const pick = () => schema.enum.find((v) => String(v) === control.value);
  return { el: labelled(ctx, key, meta, control), value: () => (sent(control.value, start, required) ? pick() : undefined) };
}

/** A checkbox, or a default / yes / no choice where null is allowed (null: the server decides). */
export function bool(ctx, key, meta, nullable, required) {
  const { value, hint } = initial(ctx, key, meta, nullable);
  if (nullable) {
    const control = h("select", {}, h("option", { value: "" }, hint || "default"),
      h("option", { value: "true", selected: value === true }, "yes"), h("option", { value: "false", selected: value === false }, "no"));
    const start = control.value;
    return { el: labelled(ctx, key, meta, control), value: () => (sent(control.value, start, required) ? control.value === "true" : undefined) };
  }
  const box = h("input", { type: "checkbox", checked: value === true });
  const start = box.checked;
  return { el: labelled(ctx, key, meta, box, { class: "check" }), value: () => (box.checked !== start || required() ? box.checked : undefined) };
}

/** An array of enum values: one checkbox each, all ticked where the schema states no default. */
export function checks(ctx, key, options, meta, required) {
  const { value } = initial(ctx, key, meta, false);
  const start = new Set(value ?? options);
  const boxes = options.map((v) => h("input", { type: "checkbox", name: key, value: String(v), checked: start.has(v) }));
  const error = h("span", { class: "field-error", dataset: { errorFor: key } });
  const help = meta.help ? h("span", { class: "help", id: `help-${++uid}` }, meta.help) : null;
  const set = h("fieldset", { class: "wide checks", title: meta.help, "aria-describedby": help?.id }, h("legend", {}, meta.label),
    ...boxes.map((box, i) => h("label", { class: "check" }, box, String(options[i]))), help, error);
  ctx.controls.push({ key, control: set, error });
  return {
    el: set,
    value() {
      const chosen = options.filter((_, i) => boxes[i].checked);
      const same = chosen.length === start.size && chosen.every((v) => start.has(v));
      return same && !required() ? undefined : chosen;
    },
  };
}

/** An array of numbers or strings, typed or pasted: a series of reals gets a text area. */
export function list(ctx, key, items, meta, nullable, required) {
  const { value, hint } = initial(ctx, key, meta, nullable);
  const start = value === null ? "" : show(value);
  const numeric = items.type === "number" || items.type === "integer";
  const placeholder = hint || "comma or space separated";
  const control = items.type === "number" ? h("textarea", { placeholder }) : h("input", { type: "text", placeholder });
  control.value = start;
  const parse = (raw) => raw.split(/[\s,;]+/).filter(Boolean).map((p) => (numeric ? Number(p) : p));
  const el = labelled(ctx, key, meta, control, { class: control.tagName === "TEXTAREA" ? "wide" : undefined });
  return { el, value: () => (sent(control.value.trim(), start, required) ? parse(control.value) : undefined) };
}

/** An array of objects (a sum of sines' components): typed as JSON, its example made from the items' fields. */
export function json(ctx, key, items, meta, required) {
  const example = Object.fromEntries(Object.entries(items.properties).map(([n, p]) => [n, p.default ?? 1]));
  const control = h("textarea", { placeholder: `JSON, e.g. ${JSON.stringify([example])}` });
  const el = labelled(ctx, key, meta, control, { class: "wide" });
  return {
    el,
    value() {
      const raw = control.value.trim();
      if (!raw) return required() ? [] : undefined;
      try {
        return JSON.parse(raw);
      } catch (err) {
        throw new Error(`${meta.label}: not JSON (${err.message})`);
      }
    },
  };
}
