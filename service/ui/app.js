// rnncast dashboard: plain ES modules over the same /v1 API (and auth) as every other client.
// Views are rendered from hash routes (#/jobs, #/jobs/<id>, #/models/<id>, #/comparisons/<id>, #/datasets, ...);
// each view returns a cleanup function that stops its timers and streams.

import { $, $$, h, flash } from "./dom.js";
import { KEY_STORE } from "./api.js";
import { jobView, jobsView } from "./views/jobs.js";
import { modelView, modelsView } from "./views/models.js";
import { comparisonView, comparisonsView } from "./views/comparisons.js";
import { datasetView, datasetsView } from "./views/datasets.js";
import { aliasView, aliasesView } from "./views/aliases.js";
import { webhookView, webhooksView } from "./views/webhooks.js";

const ROUTES = [
  [/^\/jobs\/([0-9a-f]{32})$/, jobView, "jobs"],
  [/^\/jobs$/, jobsView, "jobs"],
  [/^\/models\/([0-9a-f]{32})$/, modelView, "models"],
  [/^\/models$/, modelsView, "models"],
  [/^\/comparisons\/([0-9a-f]{32})$/, comparisonView, "comparisons"],
  [/^\/comparisons$/, comparisonsView, "comparisons"],
  [/^\/datasets\/([0-9a-f]{32})$/, datasetView, "datasets"],
  [/^\/datasets$/, datasetsView, "datasets"],
  [/^\/aliases\/([a-z0-9][a-z0-9._-]*)$/, aliasView, "aliases"],
  [/^\/aliases$/, aliasesView, "aliases"],
  [/^\/webhooks\/([0-9a-f]{32})$/, webhookView, "webhooks"],
  [/^\/webhooks$/, webhooksView, "webhooks"],
];
let cleanup = () => {};
let latest = 0;

/** Each route renders into its own new element. A view still awaiting the server when the hash moves on
 * (a slow GET, a plot) finishes into an element no longer on the page, and its cleanup runs at once, so a
 * stale view can never replace the current one, whatever order the answers come back in. */
async function route() {
  cleanup();
  cleanup = () => {};
  const turn = ++latest;
  const [path, query] = (location.hash.slice(1) || "/jobs").split("?");
  const root = h("div", { class: "view-root" });
  $("#view").replaceChildren(root);
  for (const [pattern, view, nav] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    $$("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
    let done;
    try {
      done = await view(root, match[1] ?? new URLSearchParams(query || ""));
    } catch (err) {
      root.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error", id: "view-error" }, err.message));
    }
    if (turn === latest) cleanup = done || (() => {});
    else if (done) done();
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
