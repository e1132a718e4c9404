// Webhooks: the subscriptions with a "subscribe" form (WebhookCreate, from the schema: its events are the
// schema's enum), the signing secret shown once after it, and one subscription's page (a test delivery, the
// recent deliveries' status updating every 2 s, delete).

import { h, age, card, flash, statusBadge } from "../dom.js";
import { api } from "../api.js";
import { schemaForm } from "../forms.js";

const short = (id) => id.slice(0, 8);

/** The secret the answer carries, shown this once (no later read shows it), with a copy button. */
function showSecret(box, made) {
  async function copy() {
    try {
      await navigator.clipboard.writeText(made.secret);
      flash("Secret copied.");
    } catch {
      flash("This browser refused to copy: select the secret and copy it.", true);
    }
  }
  box.replaceChildren(h("div", { class: "secret", id: "webhook-secret-box" },
    h("p", {}, h("a", { href: `#/webhooks/${made.id}` }, `Subscription ${short(made.id)}`),
      " made. Its signing secret is shown this once: copy it now, no later read shows it."),
    h("p", {}, h("code", { id: "webhook-secret" }, made.secret), " ",
      h("button", { type: "button", class: "secondary", onclick: copy }, "Copy")),
    h("button", { type: "button", class: "link", onclick: () => box.replaceChildren() }, "I have kept it: hide it")));
}

async function removeHook(id, then) {
  if (!window.confirm(`Delete subscription ${short(id)}? Its pending deliveries are not sent.`)) return;
  try {
    await api("DELETE", `/v1/webhooks/${id}`);
    flash(`Subscription ${short(id)} deleted.`);
    await then();
  } catch (err) {
    flash(`Delete failed: ${err.message}`, true);
  }
}

export async function webhooksView(root) {
  const body = h("tbody");
  const count = h("p", { class: "muted" });
  const secretBox = h("div");
  async function refresh() {
    const page = await api("GET", "/v1/webhooks?limit=1000");
    body.replaceChildren(...page.data.map((w) => h("tr", { dataset: { webhookId: w.id } },
      h("td", {}, h("a", { href: `#/webhooks/${w.id}` }, short(w.id))), h("td", { class: "url" }, w.url),
      h("td", {}, w.events.join(", ")), h("td", { title: w.created_at }, `${age(w.created_at)} ago`),
      h("td", {}, h("button", { type: "button", class: "secondary", dataset: { delete: w.id }, onclick: () => removeHook(w.id, refresh) }, "Delete")))));
    count.textContent = `${page.count} subscription(s)`;
  }
  const form = await schemaForm("WebhookCreate", {
    id: "webhook-form", submit: "Subscribe",
    async onSubmit(b) {
      showSecret(secretBox, await api("POST", "/v1/webhooks", b));
      await refresh();
    },
    onError(err) { flash(`The subscription was refused: ${err.message}`, true); },
  });
  root.replaceChildren(
    h("h1", {}, "Webhooks"),
    h("details", { class: "group add", open: true }, h("summary", {}, "Subscribe a URL"), form),
    secretBox,
    h("div", { class: "table-wrap" }, h("table", { id: "webhooks-table" },
      h("thead", {}, h("tr", {}, ...["subscription", "url", "events", "created", ""].map((t) => h("th", {}, t)))), body)),
    count);
  await refresh();
  return () => {};
}

const when = (iso) => (iso ? h("span", { title: iso }, `${age(iso)} ago`) : "–");

export async function webhookView(root, id) {
  const w = await api("GET", `/v1/webhooks/${id}`);
  const body = h("tbody");
  async function refresh() {
    const page = await api("GET", `/v1/webhooks/${id}/deliveries`);
    body.replaceChildren(...page.data.map((d) => h("tr", { dataset: { deliveryId: d.id, state: d.state } },
      h("td", { title: d.id }, short(d.id)), h("td", {}, d.event), h("td", {}, statusBadge(d.state)), h("td", {}, d.attempts),
      h("td", {}, d.last_status_code ?? "–"), h("td", { class: "url" }, d.last_error ?? ""),
      h("td", {}, when(d.created_at)), h("td", {}, when(d.delivered_at ?? d.next_attempt_at)))));
  }
  async function test() {
    try {
      const d = await api("POST", `/v1/webhooks/${id}/test`);
      flash(`Test delivery ${short(d.id)} queued.`);
      await refresh();
    } catch (err) {
      flash(`Test failed: ${err.message}`, true);
    }
  }
  root.replaceChildren(
    h("h1", {}, `Webhook ${short(id)}`),
    h("div", { class: "cards" }, card("url", w.url, { id: "webhook-url" }), card("events", w.events.join(", ")),
      card("created", `${age(w.created_at)} ago`)),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "test-webhook", onclick: test }, "Send a test delivery"),
      h("button", { type: "button", class: "danger", id: "delete-webhook", onclick: () => removeHook(id, async () => { location.hash = "#/webhooks"; }) }, "Delete subscription")),
    h("h2", {}, "Recent deliveries"),
    h("div", { class: "table-wrap" }, h("table", { id: "deliveries-table" },
      h("thead", {}, h("tr", {}, ...["delivery", "event", "state", "attempts", "last answer", "last error", "queued", "delivered / next"]
        .map((t) => h("th", {}, t)))), body)));
  await refresh();
  const timer = setInterval(() => refresh().catch((err) => flash(err.message, true)), 2000);
  return () => clearInterval(timer);
}
