"""Webhook subscriptions through the API: the URL guard, the secret shown once, limits, 404s (no worker)."""

from __future__ import annotations

import random

import pytest

from rnncast.common.settings import Settings
from rnncast.common.store import JobStatus
from rnncast.common.webhooks import address_refusal, signature, url_refusal, verify
from rnncast.worker.webhooks import backoff_s
from tests.support import TINY

PUBLIC = "https://hooks.example.com/in"


def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/x", "http://localhost/x", "http://10.0.0.5/x", "http://[::1]/x", "http://169.254.169.254/",
    "http://0.0.0.0/", "http://224.0.0.1/", "http://[::ffff:127.0.0.1]/",
])
def test_a_private_or_loopback_url_is_refused_with_a_clear_422(site, url):
    api = site()
    answer = api.http.post("/v1/webhooks", json={"url": url, "events": ["job.succeeded"]})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert "public addresses only" in detail and "RNNCAST_WEBHOOK_ALLOW_PRIVATE" in detail
    assert api.http.get("/v1/webhooks").json()["count"] == 0


@pytest.mark.parametrize(("body", "said"), [
    ({"url": "ftp://example.com/x", "events": ["job.succeeded"]}, "scheme must be http or https"),
    ({"url": "http://user:pw@127.0.0.1/x", "events": ["job.succeeded"]}, "credentials"),
    ({"url": "http://127.0.0.1/x", "events": ["job.exploded"]}, "events"),
    ({"url": "http://127.0.0.1/x", "events": []}, "events"),
    ({"url": "http://127.0.0.1/x", "events": ["job.failed"], "secret": "short"}, "secret"),
    ({"url": "http://127.0.0.1/" + "x" * 100, "events": ["job.failed"]}, "RNNCAST_MAX_WEBHOOK_URL_LENGTH (64)"),
])
def test_bad_subscriptions_are_refused_and_store_nothing(site, body, said):
    api = site(webhook_allow_private="true", max_webhook_url_length="64")
    answer = api.http.post("/v1/webhooks", json=body)
    assert answer.status_code == 422 and said in answer.text, answer.text
    assert api.http.get("/v1/webhooks").json()["count"] == 0


def test_the_secret_is_shown_at_creation_only(site):
    api = site(webhook_allow_private="true")
    made = api.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["job.failed", "job.failed"]})
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["job.failed"]
    given = api.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/y", "events": ["alias.moved"],
                                                "secret": "s" * 20}).json()
    assert given["secret"] == "s" * 20
    for read in (api.http.get(f"/v1/webhooks/{hook['id']}").json(), *api.http.get("/v1/webhooks").json()["data"]):
        assert "secret" not in read and hook["secret"] not in str(read) and "s" * 20 not in str(read)
    assert api.http.get("/openapi.json").text.count("whsec_") == 0


def test_webhook_count_limit_answers_429(site):
    api = site(webhook_allow_private="true", max_webhooks="1")
    first = api.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["job.failed"]})
    assert first.status_code == 201
    refused = api.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/y", "events": ["job.failed"]})
    assert refused.status_code == 429 and "RNNCAST_MAX_WEBHOOKS (1)" in refused.text
    assert api.http.get("/v1/webhooks").json()["count"] == 1


def test_unknown_or_malformed_ids_are_404_and_delete_removes_pending_deliveries(site):
    api = site(webhook_allow_private="true")
    for path in ("/v1/webhooks/nope", "/v1/webhooks/" + "0" * 32, "/v1/webhooks/" + "0" * 32 + "/deliveries"):
        assert api.http.get(path).status_code == 404
    assert api.http.post("/v1/webhooks/" + "0" * 32 + "/test").status_code == 404
    hook = api.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["job.failed"]}).json()
    test = api.http.post(f"/v1/webhooks/{hook['id']}/test")
    assert test.status_code == 202 and test.json()["state"] == "pending" and test.json()["event"] == "webhook.test"
    listed = api.http.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"]
    assert [d["id"] for d in listed] == [test.json()["id"]]
    assert site.store.r.zcard("rnncast:deliveries:due") == 1
    assert api.http.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert site.store.r.zcard("rnncast:deliveries:due") == 0 and not site.store.r.keys("rnncast:delivery:*")
    assert api.http.delete(f"/v1/webhooks/{hook['id']}").status_code == 404


def test_the_url_guard_resolves_and_checks_every_address():
    assert url_refusal(PUBLIC, False, (), resolver=public) is None
    assert "loopback" in (url_refusal(PUBLIC, False, (), resolver=lambda h, p: ["93.184.216.34", "127.0.0.1"]) or "")
    assert url_refusal("http://127.0.0.1/", True, ()) is None
    settings = Settings(webhook_allowed_networks="10.1.0.0/16")
    assert address_refusal("10.1.2.3", False, settings.webhook_networks) is None
    assert address_refusal("10.2.0.1", False, settings.webhook_networks)
    assert "does not resolve" in (url_refusal("http://no-such-host.invalid/", False, ()) or "")
    with pytest.raises(ValueError, match="RNNCAST_WEBHOOK_ALLOWED_NETWORKS"):
        Settings(webhook_allowed_networks="10.1.0.0/99")


def test_signatures_verify_only_the_body_and_time_they_sign():
    body = b'{"event": "job.succeeded"}'
    headers = {"Rnncast-Timestamp": "1000", "Rnncast-Signature": signature("k" * 20, 1000, body)}
    assert verify("k" * 20, headers, body, now=1100)
    assert not verify("k" * 20, headers, body + b" ", now=1100)
    assert not verify("x" * 20, headers, body, now=1100)
    assert not verify("k" * 20, headers, body, now=1000 + 301)  # outside the replay window


def test_backoff_doubles_with_jitter_up_to_its_bound():
    settings = Settings(webhook_backoff_s=10, webhook_backoff_max_s=100)
    rng = random.Random(0)
    for attempts, base in ((1, 10), (2, 20), (3, 40)):
        assert base <= backoff_s(attempts, settings, rng) <= base * 1.5
    assert backoff_s(30, settings, rng) == 100


def test_a_job_end_queues_its_delivery_in_the_same_step_and_a_refused_move_queues_none(site):
    api = site(webhook_allow_private="true")
    hook = api.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["job.cancelled",
                                                                                         "job.succeeded"]}).json()
    job = api.http.post("/v1/jobs", json={"cell": "RNN", **TINY}).json()
    # No worker and no sender run here: the delivery exists as soon as the cancel has answered.
    assert api.http.post(f"/v1/jobs/{job['id']}/cancel").status_code in (200, 202)
    [row] = api.http.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"]
    assert (row["event"], row["subject"], row["state"], row["attempts"]) == ("job.cancelled", job["id"], "pending", 0)
    # A move the store refuses (the job is no longer running under this lease) writes no delivery.
    assert site.store.finish(job["id"], "no-such-lease", JobStatus.SUCCEEDED) == 0
    assert api.http.post(f"/v1/jobs/{job['id']}/cancel").status_code in (200, 202, 409)
    assert len(api.http.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"]) == 1
    assert site.store.r.zcard("rnncast:deliveries:due") == 1
