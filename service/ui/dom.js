// DOM helpers: elements are built with textContent, never innerHTML from data.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function h(tag, attrs = {}, ...children) {
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

export function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}

export function age(iso) {
  if (!iso) return "–";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** Seconds as "42 s", "1 min 5 s" or "1.5 h", counted in whole seconds (59.6 s is "1 min 0 s", never "60 s"). */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, dataset: { status } }, status);
}

export function card(key, value, attrs = {}) {
  return h("div", { class: "card", ...attrs }, h("div", { class: "k" }, key), h("div", { class: "v" }, value));
}

export function pager(offset, limit, count, go) {
  return h("div", { class: "pager" },
    h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ Newer"),
    h("span", { class: "muted" }, count ? `${offset + 1}–${Math.min(offset + limit, count)} of ${count}` : "none"),
    h("button", { type: "button", class: "secondary", disabled: offset + limit >= count, onclick: () => go(offset + limit) }, "Older ›"));
}

export function flash(message, isError = false) {
  const el = $("#flash");
  el.textContent = message;
  el.className = isError ? "error" : "";
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { el.textContent = ""; }, isError ? 12000 : 5000);
}
