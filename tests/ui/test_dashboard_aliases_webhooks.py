"""The dashboard's Aliases and Webhooks tabs (issue 31) in a real headless Chromium against the real stack: an
alias set through the form behind a gate, a gate's refusal with its figures, the models' aliases, an alias's
history and delete; a subscription made from the form with its secret shown once, a test delivery the stack's
sender posts to a local receiver listed as delivered, and delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from rnncast.common.webhooks import verify
from tests.support import TINY
from tests.ui.browser import CHROMIUM, assert_a_bounded_input_for_every_field, wait_js
from tests.webhook_receiver import receiver_stack

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine: `make browser` installs Debian's package (as root)")

# The receiver listens on 127.0.0.1: the API and the sender must allow a private address here.
LOW_BAR = {"skill_over_seasonal_naive": -100}  # any model meets it: only the current model's figures can refuse


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Any]:
    """This module's own stack (the `ui` fixture's): an API and a worker that may post to 127.0.0.1."""
    with receiver_stack(tmp_path_factory.mktemp("ui-lifecycle")) as made:
        yield made


@pytest.fixture(scope="module")
def model(stack) -> str:
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY})
    assert job.status_code == 202, job.text
    done = stack.api.wait_job(job.json()["id"], timeout=120)
    assert done["status"] == "succeeded", done
    return str(done["model_id"])


def submit_alias(page: Any, name: str, model_id: str, skill: str) -> None:
    page.fill("#alias-form [name=name]", name)
    page.fill("#alias-form [name=model_id]", model_id)
    page.fill("#alias-form [name='require.skill_over_seasonal_naive']", skill)
    page.click("#alias-form button[type=submit]")


def figure(page: Any, role: str, field: str) -> float:
    return float(page.get_attribute(f"#alias-evidence tr[data-role={role}] td[data-field={field}]", "data-value"))


def test_an_alias_is_refused_by_its_gate_with_the_figures_then_set_listed_and_deleted(ui, stack, model):
    api = stack.api
    ui.expect_status(409)
    page = ui.go(f"/models/{model}")  # its page links to the alias form, the model filled in
    page.click("#alias-model-link")
    page.wait_for_selector("#alias-form")
    assert page.input_value("#alias-form [name=model_id]") == model
    # A bar no model meets: refused, the figures shown, the alias not made.
    submit_alias(page, "prod", model[:8], "0.999999")
    page.wait_for_selector("#alias-refused", timeout=120_000)
    assert page.get_attribute("#alias-evidence", "data-passed") == "false"
    assert "misses the bar" in page.inner_text("#alias-evidence ul.reasons")
    assert figure(page, "require", "skill_over_seasonal_naive") == 0.999999
    gate = {"skill_over_seasonal_naive": 0.999999}
    again = api.http.post("/v1/aliases/prod", json={"model_id": model, "require": gate})
    assert again.status_code == 409  # the same figures: the candidate's verdict, kept by the first try
    expected = again.json()["evidence"]["candidate"]["skill_over_seasonal_naive"]
    assert figure(page, "candidate", "skill_over_seasonal_naive") == pytest.approx(expected)
    assert page.inner_text("#alias-evidence tr[data-role=current] td:nth-child(2)") == "none"
    assert "not moved" in page.inner_text("#flash") and "0.999999" in page.inner_text("#alias-form .form-error")
    assert api.http.get("/v1/aliases/prod").status_code == 404

    # A bar it meets: the alias is made, the evidence shown, the list updated.
    submit_alias(page, "prod", model[:8], "-100")
    page.wait_for_selector("#alias-moved")
    assert page.get_attribute("#alias-evidence", "data-passed") == "true"
    assert api.http.get("/v1/aliases/prod").json()["model_id"] == model
    page.wait_for_selector(f"#aliases-table tr[data-alias=prod] td[data-model='{model}']")
    assert page.inner_text("#alias-form .form-error") == ""

    # The models' list names each model's aliases; the alias's page its moves with their evidence.
    page.goto(f"{ui.base}/ui/#/models")
    assert page.inner_text(f"#models-table tr[data-model-id='{model}'] td.aliases") == "@prod"
    page.goto(f"{ui.base}/ui/#/models/{model}")  # and its own page, from its record
    assert page.inner_text("#model-aliases .v") == "@prod"
    page.goto(f"{ui.base}/ui/#/aliases/prod")
    page.wait_for_selector("#alias-history section.move[data-seq='1'] .evidence[data-passed=true]")
    assert page.inner_text("#alias-model .v") == model[:8]
    page.on("dialog", lambda d: d.accept())
    page.click("#delete-alias")
    page.wait_for_url("**/ui/#/aliases")
    assert api.http.get("/v1/aliases/prod").status_code == 404


def test_a_candidate_worse_than_the_current_model_is_refused_with_both_models_figures(ui, stack, model):
    api = stack.api
    job = api.http.post("/v1/jobs", json={"cell": "RNN", **TINY, "epochs": 1, "lr": 0.001})
    other = str(api.wait_job(job.json()["id"], timeout=120)["model_id"])
    # Which of the two is worse, as the gate judges it: ask the API on an alias of the test's own.
    assert api.http.post("/v1/aliases/probe", json={"model_id": model}).status_code == 200
    probe = api.http.post("/v1/aliases/probe", json={"model_id": other, "require": LOW_BAR})
    better, worse = (model, other) if probe.status_code == 409 else (other, model)
    assert api.http.post("/v1/aliases/cmp", json={"model_id": better}).status_code == 200
    ui.expect_status(409)
    page = ui.go("/aliases")
    page.wait_for_selector("#alias-form")
    submit_alias(page, "cmp", worse, "-100")
    page.wait_for_selector("#alias-refused", timeout=120_000)
    assert "worse than the current model's" in page.inner_text("#alias-evidence ul.reasons")
    evidence = api.http.post("/v1/aliases/cmp", json={"model_id": worse, "require": LOW_BAR})
    for role in ("candidate", "current"):
        figures = evidence.json()["evidence"][role]
        assert figure(page, role, "skill_over_seasonal_naive") == pytest.approx(figures["skill_over_seasonal_naive"])
    assert page.inner_text("#alias-evidence tr[data-role=current] td:nth-child(2)") == better[:8]
    assert api.http.get("/v1/aliases/cmp").json()["model_id"] == better  # the alias stayed


def test_a_webhook_shows_its_secret_once_and_a_test_delivery_is_listed_as_delivered(ui, stack):
    api, receiver = stack.api, stack.receiver
    page = ui.go("/webhooks")
    page.wait_for_selector("#webhook-form")
    page.fill("#webhook-form [name=url]", receiver.url)
    page.click("#webhook-form button[type=submit]")
    secret = page.inner_text("#webhook-secret", timeout=30_000)
    assert page.locator("#webhook-secret-box button", has_text="Copy").count() == 1
    hook_id = page.get_attribute("#webhook-secret-box a", "href").rsplit("/", 1)[1]
    made = api.http.get(f"/v1/webhooks/{hook_id}").json()
    assert "secret" not in made and made["url"] == receiver.url
    assert sorted(made["events"]) == sorted(api.http.get("/openapi.json").json()["components"]["schemas"]
                                            ["WebhookEvent"]["enum"])  # every event, ticked by default
    page.wait_for_selector(f"#webhooks-table tr[data-webhook-id='{hook_id}']")

    page.click("#webhook-secret-box a")
    page.wait_for_selector("#test-webhook")
    page.click("#test-webhook")
    row = "#deliveries-table tr[data-state=delivered]"
    page.wait_for_selector(row, timeout=60_000)
    delivery = page.get_attribute(row, "data-delivery-id")
    assert page.inner_text(f"{row} td:nth-child(2)") == "webhook.test"
    assert page.inner_text(f"{row} td:nth-child(5)") == "200"  # the receiver's answer
    [got] = receiver.by_id()[delivery]
    assert verify(secret, got.headers, got.body, now=time.time())  # the secret the page showed signs it

    page.goto(f"{ui.base}/ui/#/webhooks")  # the secret is never shown again
    page.wait_for_selector(f"#webhooks-table tr[data-webhook-id='{hook_id}']")
    assert page.locator("#webhook-secret").count() == 0 and secret not in page.content()
    page.on("dialog", lambda d: d.accept())
    page.click(f"#webhooks-table [data-delete='{hook_id}']")
    page.wait_for_selector(f"#webhooks-table tr[data-webhook-id='{hook_id}']", state="detached")
    assert api.http.get(f"/v1/webhooks/{hook_id}").status_code == 404


def test_a_url_that_is_not_http_is_refused_at_its_field_and_nothing_is_subscribed(ui, stack):
    ui.expect_status(422)
    page = ui.go("/webhooks")
    page.wait_for_selector("#webhook-form")
    page.fill("#webhook-form [name=url]", "ftp://example.com/hook")
    page.click("#webhook-form button[type=submit]")
    wait_js(page, "document.querySelector('#flash').textContent.includes('refused')")
    assert page.inner_text("#webhook-form .form-error").startswith("url: ")
    assert page.locator("#webhook-secret").count() == 0
    assert stack.api.http.get("/v1/webhooks").json()["count"] == 0


def test_the_alias_form_has_an_input_for_its_name_and_every_gate_field(ui, stack):
    doc = stack.api.http.get("/openapi.json").json()
    page = ui.go("/aliases")
    page.wait_for_selector("#alias-form")
    found = assert_a_bounded_input_for_every_field(page, "#alias-form", doc, "AliasMove")
    assert {"name", "require.skill_over_seasonal_naive", "require.coverage_error_pp"} <= set(found)
