"""The dashboard in a real headless Chromium (the system's, driven by Playwright) against the real stack.

Skipped, saying why, only where no Chromium is installed; `make test` and CI
install Debian's `chromium` first (Makefile target `browser`). With
RNNCAST_SCREENSHOT_DIR set (`make screenshots`), the job and comparison pages
are saved there as PNGs for the docs (docs/guides/dashboard.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import TINY, Api
from tests.ui.browser import (
    CHROMIUM,
    FORM,
    KEY,
    SHOTS,
    Page,
    assert_a_bounded_input_for_every_field,
    fill_job_form,
    open_groups,
    resolve,
    schema_fields,
    wait_js,
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine: `make browser` installs Debian's package (as root)")


def test_the_root_redirects_to_the_dashboard_served_with_a_strict_policy(stack):
    r = stack.api.http.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    page = stack.api.http.get("/ui/")
    assert page.status_code == 200 and "<script type=\"module\" src=\"app.js\">" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp
    for asset in ("app.js", "forms.js", "views/jobs.js", "views/datasets.js", "style.css", "vendor/uPlot.iife.min.js"):
        r = stack.api.http.get(f"/ui/{asset}")
        assert r.status_code == 200 and r.headers["content-security-policy"] == csp
    assert "onclick=" not in page.text and "<script>" not in page.text  # nothing inline


def test_a_job_submitted_from_the_form_trains_and_its_chart_grows_to_the_last_epoch(ui, stack):
    page = ui.go("/jobs")
    page.wait_for_selector("#job-form")
    # The form starts from the tutorial's defaults, read from the API's schema; a recipe's fields start empty.
    assert page.input_value("#job-form [name=epochs]") == ""
    assert page.input_value("#job-form [name=hidden_size]") == "20"
    page.select_option("#job-form [name=cell]", "GRU")
    fill_job_form(page, **FORM, name="from the browser")
    page.click("#job-form button[type=submit]")
    page.wait_for_url("**/ui/#/jobs/*")
    page.wait_for_selector("#job-status [data-status=succeeded]", timeout=60_000)
    wait_js(page, "document.querySelector('#loss-chart')?.dataset.points === '6'", timeout=10_000)
    assert page.inner_text("#progress-text").startswith("epoch 6/6")
    job_id = page.url.rsplit("/", 1)[1]
    job = stack.api.http.get(f"/v1/jobs/{job_id}").json()
    assert job["name"] == "from the browser" and job["params"]["cell"] == "GRU" and job["params"]["epochs"] == 6
    page.click("#model-link")
    page.wait_for_selector("#model-digest")
    assert job["model_id"] in page.url
    page.goto(f"{ui.base}/ui/#/jobs")
    page.wait_for_selector(f"#jobs-table tr[data-job-id='{job_id}']")


def test_a_422_is_shown_next_to_the_field_at_fault(ui):
    ui.expect_status(422)
    page = ui.go("/jobs")
    page.wait_for_selector("#job-form")
    fill_job_form(page, hidden_size="0")
    page.click("#job-form button[type=submit]")
    error = page.locator("[data-error-for=hidden_size]")
    error.wait_for()
    wait_js(page, "document.querySelector('[data-error-for=hidden_size]').textContent.length > 0")
    assert "greater than or equal to 1" in error.inner_text()
    assert page.get_attribute("#job-form [name=hidden_size]", "aria-invalid") == "true"
    assert "refused" in page.inner_text("#flash")


def test_the_job_form_has_a_bounded_input_for_every_jobcreate_property_nested_ones_included(ui, stack):
    doc = stack.api.http.get("/openapi.json").json()
    job_create = doc["components"]["schemas"]["JobCreate"]
    page = ui.go("/jobs")
    page.wait_for_selector("#job-form")
    assert len(list(schema_fields(doc, job_create))) > len(job_create["properties"])  # nested ones are walked
    found = assert_a_bounded_input_for_every_field(page, "#job-form", doc, "JobCreate")
    # The cells are the schema's, in its order; no cell is named in the page's code.
    assert found["cell"]["options"] == resolve(doc, job_create["properties"]["cell"])["enum"]
    ui_dir = Path(__file__).resolve().parents[2] / "service" / "ui"
    code = "".join(p.read_text() for p in ui_dir.rglob("*.js") if "vendor" not in p.parts)
    assert not [c for c in found["cell"]["options"] if f'"{c}"' in code]
    if SHOTS:
        open_groups(page, "#job-form")
        page.locator("#job-form").screenshot(path=str(Path(SHOTS) / "dashboard-job-form.png"))


def test_nested_options_set_in_the_form_reach_the_jobs_params_and_nothing_else_is_sent(ui, stack):
    page = ui.go("/jobs")
    page.wait_for_selector("#job-form")
    page.select_option("#job-form [name=cell]", "LSTM")
    fill_job_form(page, **FORM, grad_clip="0.5")
    for group in ("early_stopping", "data"):
        page.click(f"#job-form details[data-path={group}] > summary")
    # The union shows one branch at a time: the sine's parameters first, a dataset's id once chosen.
    assert page.is_visible("#job-form [name='data.points']") and page.is_hidden("#job-form [name='data.dataset_id']")
    page.select_option("#job-form [name=data]", label="dataset")
    assert page.is_hidden("#job-form [name='data.points']") and page.is_visible("#job-form [name='data.dataset_id']")
    page.select_option("#job-form [name=data]", label="sine")
    fill_job_form(page, **{"early_stopping.patience": "3", "data.points": "200", "data.stop": "100"})
    with page.expect_request(lambda r: r.url.endswith("/v1/jobs") and r.method == "POST") as sent:
        page.click("#job-form button[type=submit]")
    assert sent.value.post_data_json == {
        "cell": "LSTM", "epochs": 6, "hidden_size": 4, "batch_size": 64, "sequence_length": 10, "lr": 0.01,
        "grad_clip": 0.5, "early_stopping": {"patience": 3}, "data": {"kind": "sine", "points": 200, "stop": 100}}
    page.wait_for_url("**/ui/#/jobs/*")
    job = stack.api.http.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}").json()
    params = job["params"]
    assert params["early_stopping"]["patience"] == 3 and params["grad_clip"] == 0.5
    assert params["data"]["points"] == 200 and params["cell"] == "LSTM"
    stack.api.wait_job(job["id"])


def test_a_value_beyond_a_nested_bound_is_shown_at_that_field(ui, stack):
    doc = stack.api.http.get("/openapi.json").json()
    walked = dict(schema_fields(doc, doc["components"]["schemas"]["JobCreate"]))
    early, points = walked["early_stopping.patience"][0], walked["data.points"][0]
    ui.expect_status(422)
    page = ui.go("/jobs")
    page.wait_for_selector("#job-form")
    open_groups(page, "#job-form")
    fill_job_form(page, **{"early_stopping.patience": str(int(early["maximum"]) + 1),
                            "data.points": str(int(points["minimum"]) - 1)})
    # Closed again: the error must open the groups to be seen.
    page.evaluate("document.querySelectorAll('#job-form details').forEach((d) => { d.open = false; })")
    page.click("#job-form button[type=submit]")
    wait_js(page, "document.querySelector(\"[data-error-for='early_stopping.patience']\").textContent.length > 0")
    assert "less than or equal to" in page.inner_text("[data-error-for='early_stopping.patience']")
    assert page.get_attribute("#job-form [name='early_stopping.patience']", "aria-invalid") == "true"
    assert page.is_visible("#job-form [name='early_stopping.patience']")  # its group was opened to show it
    # Through the union: pydantic's loc names the branch (data.sine.points); the error is still at the field.
    assert f"greater than or equal to {int(points['minimum'])}" in page.inner_text("[data-error-for='data.points']")
    assert page.get_attribute("#job-form [name='data.points']", "aria-invalid") == "true"


def test_a_running_job_is_cancelled_from_its_page(ui, stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "LSTM", **TINY, "epochs": 100_000}).json()
    page = ui.go(f"/jobs/{job['id']}")
    wait_js(page, "Number(document.querySelector('#loss-chart')?.dataset.points || 0) >= 2",
                           timeout=60_000)
    page.click("#cancel-job")
    page.wait_for_selector("#job-status [data-status=cancelled]", timeout=30_000)
    assert stack.api.http.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    if SHOTS:  # a job mid-training, for the docs: one that runs while the shot is taken
        live = stack.api.http.post("/v1/jobs", json={"cell": "GRU", "epochs": 60, "name": "tutorial GRU"}).json()
        shot = ui.go(f"/jobs/{live['id']}")
        wait_js(shot, "Number(document.querySelector('#loss-chart')?.dataset.points || 0) >= 25",
                               timeout=120_000)
        shot.screenshot(path=str(Path(SHOTS) / "dashboard-job.png"), full_page=True)
        stack.api.http.post(f"/v1/jobs/{live['id']}/cancel")


def test_a_forecast_is_drawn_with_its_mse_and_a_model_is_deleted_after_confirmation(ui, stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    done = stack.api.wait_job(job["id"])
    page = ui.go(f"/models/{done['model_id']}")
    page.wait_for_selector("#forecast-form")
    page.fill("#forecast-form [name=start]", "60")
    page.fill("#forecast-form [name=horizon]", "25")
    page.click("#forecast-form button[type=submit]")
    wait_js(page, "document.querySelector('#forecast-result')?.dataset.mse !== undefined")
    expected = stack.api.http.post(f"/v1/models/{done['model_id']}/forecast", json={"start": 60, "horizon": 25}).json()
    assert float(page.get_attribute("#forecast-result", "data-mse")) == pytest.approx(expected["mse"])
    assert page.inner_text("#forecast-result").startswith("MSE ")
    assert int(page.get_attribute("#forecast-chart", "data-points")) == 10 + 25  # context + forecast
    # A forecast that succeeded leaves no error beside its button, and no field marked.
    assert page.inner_text("#forecast-form .form-error") == ""
    assert page.locator("#forecast-form [aria-invalid=true]").count() == 0
    assert page.get_attribute("#forecast-chart", "data-bands") == "0"
    # Intervals asked for: drawn as shaded bands, their widths said in words.
    page.fill("#forecast-form [name=intervals]", "0.8 0.9")
    page.click("#forecast-form button[type=submit]")
    wait_js(page, "document.querySelector('#forecast-chart')?.dataset.bands === '2'")
    assert "0.8 interval width" in page.inner_text("#forecast-result")
    # Pasted values: too few is an error, shown.
    ui.expect_status(422)
    assert page.is_hidden("#forecast-form [name=context]")  # one of start and context at a time
    page.select_option("#forecast-form [name=mode]", "context")
    assert page.is_hidden("#forecast-form [name=start]")
    page.fill("#forecast-form [name=context]", "0.1 0.2 0.3")
    page.click("#forecast-form button[type=submit]")
    wait_js(page, "document.querySelector('#flash').textContent.includes('Forecast failed')")
    page.on("dialog", lambda d: d.accept())
    page.click("#delete-model")
    page.wait_for_url("**/ui/#/models")
    assert stack.api.http.get(f"/v1/models/{done['model_id']}").status_code == 404


def test_a_comparison_from_the_form_shows_its_runs_summary_and_figures(ui, stack):
    page = ui.go("/comparisons")
    page.wait_for_selector("#comparison-form")
    page.uncheck("#comparison-form input[value=LSTM]")
    page.fill("#comparison-form [name=seeds]", "0, 1")
    # The `train` options are a nested group, open from the start.
    page.fill("#comparison-form [name='train.epochs']", "40")
    page.fill("#comparison-form [name='train.hidden_size']", "8")
    page.click("#comparison-form button[type=submit]")
    page.wait_for_url("**/ui/#/comparisons/*")
    page.wait_for_selector("#comparison-status [data-status=succeeded]", timeout=120_000)
    # Drawn once the comparison had ended (earlier drawings show it partway).
    page.wait_for_selector("#predictions-png[data-drawn-for=succeeded]", timeout=30_000)
    wait_js(page, "document.querySelector('#loss-png')?.naturalWidth > 0 && "
                  "document.querySelector('#predictions-png')?.naturalWidth > 0", timeout=30_000)
    rows = page.locator("#summary-table tbody tr")
    assert rows.count() == 2 and "(n=2)" in page.inner_text("#summary-table")
    assert page.inner_text("#best-cell .v") in ("RNN", "GRU")
    assert page.locator("#runs-table tbody tr").count() == 4
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "dashboard-comparison.png"), full_page=True)


def test_a_narrow_window_keeps_everything_reachable(browser, stack):
    narrow = Page(browser, stack.api.url, width=420)
    try:
        page = narrow.go("/jobs")
        page.wait_for_selector("#job-form button[type=submit]")
        assert page.is_visible("#job-form button[type=submit]") and page.is_visible("header nav a[href='#/models']")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 420 + 1, width  # no sideways scrolling of the page (tables scroll in their own box)
    finally:
        narrow.close()
    assert narrow.errors == []


def test_the_page_follows_a_dark_system_theme(browser, stack):
    dark = Page(browser, stack.api.url, scheme="dark")
    try:
        page = dark.go("/jobs")
        page.wait_for_selector("#jobs-table")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        text = page.evaluate("getComputedStyle(document.body).color")
        assert background == "rgb(17, 21, 28)" and text == "rgb(230, 233, 239)"  # light text on a dark page
    finally:
        dark.close()
    assert dark.errors == []


@pytest.fixture(scope="module")
def keyed_api(stack, tmp_path_factory) -> Iterator[Api]:
    log = tmp_path_factory.mktemp("keyed") / "api.log"
    # Access lines logged (info), so the test can check no line carries the key.
    api = Api(stack.redis.url, stack.data_dir, log, extra={"RNNCAST_API_KEY": KEY}, log_level="info")
    yield api
    api.stop()


def test_with_a_key_the_page_asks_once_refuses_a_wrong_one_and_never_puts_it_in_a_url(browser, stack, keyed_api):
    ui = Page(browser, keyed_api.url)
    ui.expect_status(401)
    try:
        page = ui.go("/jobs")
        page.wait_for_selector("#key-dialog[open]")
        page.fill("#key-input", "not-the-key")
        page.click("#key-form button[type=submit]")
        wait_js(page, "document.querySelector('#key-error').textContent.includes('refused')")
        assert page.is_visible("#key-dialog")
        page.fill("#key-input", KEY)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#jobs-table")
        assert page.evaluate("sessionStorage.getItem('rnncast.apiKey')") == KEY
        # A job's live chart through the stream token (EventSource sends no header).
        page.select_option("#job-form [name=cell]", "RNN")
        fill_job_form(page, **FORM)
        page.click("#job-form button[type=submit]")
        page.wait_for_selector("#job-status [data-status=succeeded]", timeout=60_000)
        wait_js(page, "document.querySelector('#loss-chart')?.dataset.points === '6'")
        assert any("/events?token=" in url for url in ui.urls)
    finally:
        ui.close()
    assert ui.errors == [], ui.errors
    assert not [u for u in ui.urls if KEY in u]
    log = keyed_api.proc.log()
    assert "/events?token=" in log and "GET /v1/jobs" in log  # the access lines are there
    assert KEY not in log
    # The token opens that one stream, nothing else.
    token = next(u for u in ui.urls if "/events?token=" in u).split("token=")[1].split("&")[0]
    assert keyed_api.http.get(f"/v1/jobs?token={token}").status_code == 401


def test_the_api_docs_render_offline_under_the_dashboards_policy(ui, stack):
    """/docs is Swagger UI from this package, started by a file of its own: no other origin, no inline script."""
    page = ui.page
    r = page.goto(f"{stack.api.url}/docs")
    assert r.status == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    wait_js(page, "document.querySelector('.swagger-ui .info .title')?.textContent.includes('rnncast')")
    wait_js(page, "document.querySelectorAll('.opblock').length > 20")  # every operation listed
    origin = stack.api.url
    assert all(url.startswith(origin) for url in ui.urls), [u for u in ui.urls if not u.startswith(origin)]
