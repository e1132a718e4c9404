// A model's way out and in: its export links (GET /v1/models/{id}/export?format=...) and the Models tab's import
// form (POST /v1/models with the checkpoint zip).

import { h, flash } from "../dom.js";
import { api } from "../api.js";

/** A link to the export route; the click fetches it with the key (a plain link cannot send the header) and saves
 * the answer under the API's own file name. */
function exportLink(id, format, label) {
  const path = `/v1/models/${id}/export?format=${format}`;
  const suffix = format === "onnx" ? "onnx" : "zip";
  async function save(event) {
    event.preventDefault();
    try {
      const blob = await api("GET", path, undefined, { blob: true });
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: `rnncast-${id}.${suffix}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      flash(`Export failed: ${err.message}`, true);
    }
  }
  return h("a", { href: path, id: `export-${format}`, onclick: save }, label);
}

export const exportLinks = (id) => [exportLink(id, "safetensors", "Export safetensors"), exportLink(id, "onnx", "Export ONNX")];

/** The import form: the zip goes as the body (application/octet-stream); a refusal shows the API's detail. */
export function importForm() {
  const file = h("input", { type: "file", name: "package", accept: ".zip,application/zip", required: true });
  const result = h("p", { id: "import-result", class: "muted" });
  async function submit(event) {
    event.preventDefault();
    if (!file.files.length) return;
    result.textContent = "Importing…";
    try {
      const model = await api("POST", "/v1/models", file.files[0]);
      flash(`Model ${model.id.slice(0, 8)} imported.`);
      location.hash = `#/models/${model.id}`;
    } catch (err) {
      result.textContent = `The import was refused: ${err.message}`;
      result.classList.add("error");
    }
  }
  return h("details", { class: "group add", id: "import-model" }, h("summary", {}, "Import a model"),
    h("form", { id: "import-form", onsubmit: submit },
      h("label", { class: "wide" }, "Checkpoint package (.zip, as exported)", file),
      h("button", { type: "submit" }, "Import")),
    result);
}
