"""A model's export links and the Models tab's import form (issue 31) in a real headless Chromium against the real
stack: a checkpoint downloaded from a model's page and imported through the form becomes a new model listed on the
Models tab; a file that is not a package is refused with the API's detail and stores nothing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import onnx
import pytest

from tests.support import TINY
from tests.ui.browser import CHROMIUM, wait_js

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine: `make browser` installs Debian's package (as root)")


def test_an_exported_package_imports_through_the_form(ui, stack, tmp_path):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    done = stack.api.wait_job(job["id"])
    model_id = done["model_id"]
    page = ui.go(f"/models/{model_id}")
    page.wait_for_selector("#export-safetensors")
    assert page.get_attribute("#export-onnx", "href") == f"/v1/models/{model_id}/export?format=onnx"
    assert page.get_attribute("#export-safetensors", "href") == f"/v1/models/{model_id}/export?format=safetensors"
    with page.expect_download() as download:
        page.click("#export-safetensors")
    package = tmp_path / download.value.suggested_filename
    download.value.save_as(package)
    assert package.name == f"rnncast-{model_id}.zip"
    assert set(zipfile.ZipFile(package).namelist()) >= {"manifest.json", "model.safetensors"}
    with page.expect_download(timeout=120_000) as onnx_download:  # exported (and parity-checked) by a worker
        page.click("#export-onnx")
    assert onnx_download.value.suggested_filename == f"rnncast-{model_id}.onnx"
    assert onnx.load_from_string(Path(onnx_download.value.path()).read_bytes()).metadata_props

    before = {m["id"] for m in stack.api.http.get("/v1/models", params={"limit": 1000}).json()["data"]}
    page = ui.go("/models")
    page.click("#import-model summary")
    page.set_input_files("#import-form input[type=file]", str(package))
    page.click("#import-form button[type=submit]")
    wait_js(page, f"location.hash.startsWith('#/models/') && location.hash !== '#/models/{model_id}'")
    imported = page.evaluate("location.hash").removeprefix("#/models/")
    assert imported not in before | {""}
    record = stack.api.http.get(f"/v1/models/{imported}").json()
    assert record["imported"]["source_model_id"] == model_id
    page.wait_for_selector("#delete-model")
    assert "Imported (no training job here)" in page.inner_text(".actions")
    page = ui.go("/models")
    page.wait_for_selector(f"#models-table tr[data-model-id='{imported}']")

    # Not a package: the API's 422 detail is shown, and nothing is stored.
    junk = tmp_path / "notes.zip"
    junk.write_bytes(b"this is not a zip")
    ui.expect_status(422)
    page.click("#import-model summary")
    page.set_input_files("#import-form input[type=file]", str(junk))
    page.click("#import-form button[type=submit]")
    wait_js(page, "document.querySelector('#import-result').textContent.includes('refused')")
    assert "422" in page.inner_text("#import-result")
    after = {m["id"] for m in stack.api.http.get("/v1/models", params={"limit": 1000}).json()["data"]}
    assert after == before | {imported}
    assert stack.api.http.delete(f"/v1/models/{imported}").status_code == 204
