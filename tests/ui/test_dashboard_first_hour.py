"""The dashboard as a new user meets it (issue 28): an ETA that means something, the new-job form in view, and
what the API and CLI can do the page does too: datasets, backtests, ensemble forecasts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rnncast.common.store import JobStatus
from rnncast.common.store.sync import JobStore
from tests.support import TINY
from tests.ui.browser import CHROMIUM, FORM, Page, assert_a_bounded_input_for_every_field, fill_job_form, wait_js
from tests.worker.test_training import PARAMS, create

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine: `make browser` installs Debian's package (as root)")


def test_durations_are_counted_in_whole_seconds(ui):
    page = ui.go("/jobs")
    page.wait_for_selector("#job-form")
    shown = page.evaluate("import('/ui/dom.js').then((m) => [5, 59.4, 59.6, 61.2, 119.6, 3599.6].map(m.duration))")
    assert shown == ["5 s", "59 s", "1 min 0 s", "1 min 1 s", "2 min 0 s", "1.0 h"]  # never "1 min 60 s"


def test_a_job_opened_mid_run_times_its_eta_from_its_own_epochs_not_from_the_replay(ui, stack):
    """Three epochs at least a second apart, then the page opens: it receives them in one burst, and its
    ETA for the 97 epochs left must come from when they ended (at least 1 s each), not from that burst."""
    store = JobStore.from_url(stack.redis.url)
    total = 100
    # A job record this test drives itself, as a worker would (no worker holds it); made on a thread of its
    # own, beside Playwright's event loop.
    with ThreadPoolExecutor(1) as pool:
        job_id = pool.submit(create, stack.redis.url, PARAMS | {"epochs": total}).result()
    try:
        assert store.start(job_id, "ui-test-lease", "cpu", 1)
        for epoch in (1, 2, 3):
            if epoch > 1:
                time.sleep(1.0)
            assert store.record_epoch(job_id, "ui-test-lease", epoch, total, 1.0 / epoch, 2.0 / epoch, 0.01) == 0
        page = ui.go(f"/jobs/{job_id}")
        eta = wait_js(page, "document.querySelector('#progress-text')?.dataset.etaS")
        per_epoch = float(page.get_attribute("#progress-text", "data-seconds-per-epoch"))
        assert per_epoch >= 1.0, per_epoch
        assert int(eta) >= 97, eta
        text = page.inner_text("#progress-text")
        assert text.startswith("epoch 3/100 · ETA ") and " min " in text, text
    finally:
        store.finish(job_id, "ui-test-lease", JobStatus.CANCELLED)


def test_the_new_job_form_is_in_view_above_a_full_page_of_jobs(browser, stack):
    for _ in range(20 - stack.api.http.get("/v1/jobs?limit=1").json()["count"]):
        assert stack.api.http.post("/v1/jobs", json={"cell": "RNN", **TINY}).status_code == 202
    tall = Page(browser, stack.api.url, width=1400, height=1000)
    try:
        page = tall.go("/jobs")
        wait_js(page, "document.querySelectorAll('#jobs-table tbody tr').length === 20")
        box = page.evaluate("""(() => {
            const form = document.querySelector('#job-form').getBoundingClientRect();
            const button = document.querySelector('#job-form button[type=submit]').getBoundingClientRect();
            return {top: form.top, bottom: button.bottom, height: innerHeight};
        })()""")
        assert 0 <= box["top"] and box["bottom"] <= box["height"], box  # the whole form, button included
    finally:
        tall.close()
    assert tall.errors == []


def upload_csv(page: Any, path: Path, **query: str) -> str:
    page.set_input_files("#dataset-csv-form [name=file]", str(path))
    for name, value in query.items():
        page.fill(f"#dataset-csv-form [name={name}]", value)
    page.click("#dataset-csv-form button[type=submit]")
    page.wait_for_url("**/ui/#/datasets/*")
    return str(page.url.rsplit("/", 1)[1])


def test_datasets_are_uploaded_pasted_generated_listed_trained_on_and_deleted(ui, stack, tmp_path):
    csv = tmp_path / "sales.csv"
    csv.write_text("day,units\n" + "".join(f"2024-01-{d:02d},{(d * 7) % 11 + 0.5}\n" for d in range(1, 29)))
    page = ui.go("/datasets")
    page.wait_for_selector("#dataset-csv-form")
    uploaded = upload_csv(page, csv, name="sales", step="2")
    record = stack.api.http.get(f"/v1/datasets/{uploaded}").json()
    assert record["name"] == "sales" and record["length"] == 28 and record["step"] == 2.0
    assert page.inner_text("#dataset-length .v") == "28"
    wait_js(page, "document.querySelector('#dataset-png')?.naturalWidth > 0")

    page.goto(f"{ui.base}/ui/#/datasets")
    page.click("details:has(#dataset-values-form) > summary")
    page.fill("#dataset-values-form [name=name]", "pasted")
    page.fill("#dataset-values-form [name=values]", "1, 2.5, 3\n4 5 6 7 8 9 10 11 12")
    page.click("#dataset-values-form button[type=submit]")
    page.wait_for_url("**/ui/#/datasets/*")
    pasted = page.url.rsplit("/", 1)[1]
    assert stack.api.http.get(f"/v1/datasets/{pasted}/values").json()["values"][:3] == [1.0, 2.5, 3.0]

    # A generated sum of sines: its components (a list of objects) are typed as JSON.
    page.goto(f"{ui.base}/ui/#/datasets")
    page.click("details:has(#dataset-generator-form) > summary")
    page.select_option("#dataset-generator-form [name=generator]", label="sines")
    components = '[{"period": 20}, {"period": 7, "amplitude": 0.3}]'
    page.fill("#dataset-generator-form [name='generator.components']", components)
    page.fill("#dataset-generator-form [data-branch=sines] [name='generator.points']", "400")
    page.click("#dataset-generator-form button[type=submit]")
    page.wait_for_url("**/ui/#/datasets/*")
    generated = stack.api.http.get(f"/v1/datasets/{page.url.rsplit('/', 1)[1]}").json()
    assert generated["length"] == 400 and generated["source"]["generator"]["kind"] == "sines"
    assert len(generated["source"]["generator"]["components"]) == 2

    # Train on it: the job form opens on the dataset branch with its id.
    page.click("#train-on-dataset")
    page.wait_for_selector("#job-form")
    assert page.input_value("#job-form [name='data.dataset_id']") == generated["id"]
    fill_job_form(page, **FORM)
    with page.expect_request(lambda r: r.url.endswith("/v1/jobs") and r.method == "POST") as sent:
        page.click("#job-form button[type=submit]")
    assert sent.value.post_data_json["data"] == {"kind": "dataset", "dataset_id": generated["id"]}
    page.wait_for_url("**/ui/#/jobs/*")
    stack.api.wait_job(page.url.rsplit("/", 1)[1])

    page.goto(f"{ui.base}/ui/#/datasets")
    for dataset_id in (uploaded, pasted, generated["id"]):
        page.wait_for_selector(f"#datasets-table tr[data-dataset-id='{dataset_id}']")
    page.on("dialog", lambda d: d.accept())
    page.click(f"#datasets-table [data-delete='{pasted}']")
    page.wait_for_selector(f"#datasets-table tr[data-dataset-id='{pasted}']", state="detached")
    assert stack.api.http.get(f"/v1/datasets/{pasted}").status_code == 404


def test_a_bad_csv_is_refused_with_the_servers_reason_and_nothing_stored(ui, stack, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("value\n1\nnot a number\n3\n")
    before = stack.api.http.get("/v1/datasets").json()["count"]
    ui.expect_status(422)
    page = ui.go("/datasets")
    page.wait_for_selector("#dataset-csv-form")
    page.set_input_files("#dataset-csv-form [name=file]", str(bad))
    page.click("#dataset-csv-form button[type=submit]")
    wait_js(page, "document.querySelector('#flash').textContent.includes('refused')")
    assert "row" in page.inner_text("#dataset-csv-form .form-error")
    assert stack.api.http.get("/v1/datasets").json()["count"] == before


def test_a_models_backtest_shows_its_scores_against_the_baselines_and_its_figure(ui, stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    model_id = stack.api.wait_job(job["id"])["model_id"]
    page = ui.go(f"/models/{model_id}")
    page.wait_for_selector("#backtest-form")
    page.fill("#backtest-form [name=origins]", "5")
    page.fill("#backtest-form [name=horizon]", "4")
    page.click("#backtest-form button[type=submit]")
    wait_js(page, "document.querySelector('#backtest-png')?.naturalWidth > 0", timeout=60_000)
    expected = stack.api.http.post(f"/v1/models/{model_id}/backtest", json={"origins": 5, "horizon": 4}).json()
    assert float(page.get_attribute("#backtest-result", "data-skill")) == pytest.approx(expected["skill"])
    assert page.locator("#backtest-table tbody tr").count() == 3
    model_mse = page.inner_text("#backtest-table tr[data-scores=model] td:nth-child(2)")
    assert float(model_mse) == pytest.approx(expected["model"]["mse"], rel=1e-2)
    assert page.inner_text("#backtest-form .form-error") == ""


def test_a_comparisons_ensemble_forecast_shows_each_cells_spread_and_its_figure(ui, stack):
    study = stack.api.http.post("/v1/comparisons", json={
        "cells": ["RNN", "GRU"], "seeds": [0, 1], "train": {**TINY, "epochs": 4}}).json()
    page = ui.go(f"/comparisons/{study['id']}")
    page.wait_for_selector("#comparison-status [data-status=succeeded]", timeout=120_000)
    page.fill("#ensemble-form [name=horizon]", "12")
    page.click("#ensemble-form button[type=submit]")
    wait_js(page, "document.querySelector('#ensemble-png')?.naturalWidth > 0", timeout=60_000)
    assert page.locator("#ensemble-table tbody tr").count() == 2
    expected = stack.api.http.post(f"/v1/comparisons/{study['id']}/forecast", json={"horizon": 12}).json()
    for cell, band in expected["cells"].items():
        row = page.inner_text(f"#ensemble-table tr[data-cell={cell}]")
        assert f"\t{band['n']}\t" in row and "0: " in row and "1: " in row, row
    assert any("/forecast.png?horizon=12" in url for url in ui.urls)


@pytest.mark.parametrize(("route", "form", "component"), [
    ("/comparisons", "#comparison-form", "ComparisonCreate"),
    ("/datasets", "#dataset-values-form", "DatasetValues"),
    ("/datasets", "#dataset-generator-form", "DatasetGenerated"),
    ("/aliases", "#alias-form", "AliasMove"),
    ("/webhooks", "#webhook-form", "WebhookCreate"),
])
def test_every_option_of_the_other_forms_has_its_input(ui, stack, route, form, component):
    doc = stack.api.http.get("/openapi.json").json()
    page = ui.go(route)
    page.wait_for_selector(form, state="attached")  # maybe in a closed group
    assert_a_bounded_input_for_every_field(page, form, doc, component)


def test_a_slow_view_left_behind_never_replaces_the_current_one(ui, stack):
    """A view still waiting on the server when the hash moves on finishes into an element no longer on the
    page: the dataset page whose GET comes back last does not cover the list the user went to."""
    dataset = stack.api.http.post("/v1/datasets", json={"name": "slow", "values": list(range(12))}).json()["id"]
    page = ui.go("/datasets")
    page.wait_for_selector("#dataset-csv-form")
    page.evaluate("""(id) => {
        const fetch0 = window.fetch;
        window.fetch = async (url, ...rest) => {
            if (String(url).endsWith(`/v1/datasets/${id}`)) await new Promise((r) => setTimeout(r, 1500));
            return fetch0(url, ...rest);
        };
        location.hash = `#/datasets/${id}`;
        setTimeout(() => { location.hash = "#/datasets"; }, 100);
    }""", dataset)
    page.wait_for_timeout(2500)  # the slow answer has come back by now
    assert page.query_selector("#dataset-csv-form") is not None
    assert page.query_selector("#dataset-length") is None
    assert ui.errors == []
