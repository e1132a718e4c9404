"""Webhooks against the real stack: a real Redis, API and Celery worker, and a local receiver.

docs/guides/webhooks.md's commands and its verification function are run here."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rnncast.client.cli import app
from rnncast.common.webhooks import verify
from tests.support import TINY, Api, RedisServer, start_worker, wait_until, wait_worker_ready
from tests.webhook_receiver import SENDER as BASE_SENDER
from tests.webhook_receiver import Receiver

SENDER = BASE_SENDER | {"RNNCAST_WEBHOOK_LEASE_S": "4", "RNNCAST_WEBHOOK_MAX_ATTEMPTS": "3"}
JOB = {"cell": "RNN", **TINY}
EVENTS = ["job.succeeded", "job.failed", "job.cancelled", "comparison.finished"]


DOCS = Path(__file__).resolve().parents[2] / "docs" / "guides" / "webhooks.md"


def docs_verifier() -> Callable[..., bool]:
    """The page's `verify_rnncast`, as a receiver would paste it."""
    [code] = [block for block in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
              if "def verify_rnncast" in block]
    space: dict[str, Any] = {}
    exec(code, space)
    return space["verify_rnncast"]  # type: ignore[no-any-return]


def cli(stack: Any, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--url", stack.api.url])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def stack(tmp_path) -> Iterator[Any]:
    redis = RedisServer(tmp_path / "redis").start()
    api = Api(redis.url, tmp_path / "data", tmp_path / "api.log", extra=SENDER)
    receiver = Receiver().start()
    workers = []

    def worker(**env: str) -> Any:
        made = start_worker(redis.url, tmp_path / "data", tmp_path / f"worker{len(workers)}.log",
                            extra=SENDER | env)
        workers.append(made)
        wait_worker_ready(redis.client())
        return made

    stack = type("Stack", (), {"api": api, "redis": redis, "receiver": receiver, "worker": staticmethod(worker)})
    yield stack
    receiver.stop()
    for made in workers:
        made.stop()
    api.stop()
    redis.stop()


def subscribe(api: Api, url: str, events: list[str] = EVENTS) -> dict[str, Any]:
    made = api.http.post("/v1/webhooks", json={"url": url, "events": events})
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def deliveries(api: Api, hook: dict[str, Any]) -> list[dict[str, Any]]:
    return api.http.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"]  # type: ignore[no-any-return]


def settled(api: Api, hook: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """The subscription's `n` deliveries once none is pending."""
    def done() -> list[dict[str, Any]] | None:
        rows = deliveries(api, hook)
        return rows if len(rows) == n and all(d["state"] != "pending" for d in rows) else None
    return wait_until(done, timeout=60)  # type: ignore[no-any-return]


def test_success_failure_and_cancel_each_arrive_once_signed(stack):
    stack.worker()
    hook = subscribe(stack.api, stack.receiver.url)
    ok = stack.api.http.post("/v1/jobs", json=JOB).json()
    stack.api.wait_job(ok["id"])
    failing = stack.api.http.post("/v1/jobs", json=JOB | {"epochs": 100_000, "max_seconds": 1}).json()
    assert stack.api.wait_job(failing["id"])["status"] == "failed"
    cancelled = stack.api.http.post("/v1/jobs", json=JOB | {"epochs": 100_000}).json()
    assert stack.api.http.post(f"/v1/jobs/{cancelled['id']}/cancel").status_code in (200, 202)
    assert stack.api.wait_job(cancelled["id"])["status"] == "cancelled"

    rows = settled(stack.api, hook, 3)
    assert all(d["state"] == "delivered" and d["last_status_code"] == 200 and d["delivered_at"] for d in rows)
    by_id = stack.receiver.by_id()
    assert sorted(by_id) == sorted(d["id"] for d in rows)
    seen = {}
    documented = docs_verifier()
    for delivery_id, copies in by_id.items():
        got = copies[0]
        assert verify(hook["secret"], got.headers, got.body, now=time.time())
        assert documented(hook["secret"], got.headers, got.body)
        assert not documented("whsec_" + "x" * 40, got.headers, got.body)
        assert not documented(hook["secret"], got.headers, got.body + b" ")
        assert not documented(hook["secret"], got.headers | {"Rnncast-Timestamp": "1000"}, got.body)
        body = json.loads(got.body)
        assert body["id"] == delivery_id and body["timestamp"]
        seen[body["event"]] = body["data"]
    assert {e: d["id"] for e, d in seen.items()} == {
        "job.succeeded": ok["id"], "job.failed": failing["id"], "job.cancelled": cancelled["id"]}
    assert seen["job.succeeded"]["status"] == "succeeded" and seen["job.succeeded"]["model_id"]
    assert "time limit" in seen["job.failed"]["error"]


def test_a_comparison_sends_one_event_and_its_runs_none(stack):
    stack.worker()
    hook = subscribe(stack.api, stack.receiver.url)
    made = stack.api.http.post("/v1/comparisons", json={"cells": ["RNN", "GRU"], "seeds": [0], "train": TINY})
    assert made.status_code == 202, made.text
    wait_until(lambda: stack.api.http.get(f"/v1/comparisons/{made.json()['id']}").json()["status"] == "succeeded",
               timeout=120)
    [row] = settled(stack.api, hook, 1)
    assert row["event"] == "comparison.finished" and row["subject"] == made.json()["id"]
    [[got]] = stack.receiver.by_id().values()
    assert json.loads(got.body)["data"]["status"] == "succeeded"


def test_a_sender_killed_mid_delivery_loses_nothing_and_keeps_the_delivery_id(stack):
    worker = stack.worker()
    hook = subscribe(stack.api, stack.receiver.url)
    stack.receiver.hold.set()  # the first attempt's answer never comes before the kill
    job = stack.api.http.post("/v1/jobs", json=JOB).json()
    stack.api.wait_job(job["id"])
    assert stack.receiver.arrived.wait(60)
    worker.signal(signal.SIGKILL)  # the sender dies with the request in flight
    worker.proc.wait(timeout=20)
    [pending] = deliveries(stack.api, hook)
    assert pending["state"] == "pending" and pending["attempts"] == 1
    stack.receiver.hold.clear()
    stack.receiver.released.set()  # the dead sender's request gets its answer: nobody reads it
    stack.worker()  # a fresh sender claims it once the dead one's lease ends
    [row] = settled(stack.api, hook, 1)
    assert row["state"] == "delivered" and row["attempts"] == 2 and row["id"] == pending["id"]
    by_id = stack.receiver.by_id()
    assert list(by_id) == [pending["id"]] and len(by_id[pending["id"]]) == 2  # at least once; once after dedup
    first, second = by_id[pending["id"]]
    assert first.body == second.body and verify(hook["secret"], second.headers, second.body, now=time.time())


def test_a_failing_receiver_is_retried_then_marked_failed(stack):
    stack.worker()
    stack.receiver.status = 500
    hook = subscribe(stack.api, stack.receiver.url)
    test = stack.api.http.post(f"/v1/webhooks/{hook['id']}/test").json()
    [row] = settled(stack.api, hook, 1)
    assert row["id"] == test["id"] and row["state"] == "failed" and row["attempts"] == 3
    assert row["last_status_code"] == 500 and "answered 500" in row["last_error"] and row["delivered_at"] is None
    assert [len(copies) for copies in stack.receiver.by_id().values()] == [3]


def test_a_receiver_that_never_answers_holds_no_request(stack):
    stack.worker()
    stack.receiver.hold.set()
    hook = subscribe(stack.api, stack.receiver.url)
    test = stack.api.http.post(f"/v1/webhooks/{hook['id']}/test")
    # The API answered before the receiver even saw the request: delivery happens in the worker, never inline.
    assert test.status_code == 202 and test.json()["state"] == "pending" and test.json()["attempts"] == 0
    assert stack.receiver.arrived.wait(30)
    assert stack.api.http.get("/v1/webhooks").status_code == 200  # served while the receiver holds the sender
    assert not stack.receiver.released.is_set()  # ... and still holds it
    assert all(item.headers["User-Agent"] == "rnncast-webhooks" for item in stack.receiver.got)


def test_the_url_is_checked_again_at_delivery(stack):
    stack.worker(RNNCAST_WEBHOOK_ALLOW_PRIVATE="false")  # the API allowed it; the sender's own check does not
    hook = subscribe(stack.api, stack.receiver.url)
    stack.api.http.post(f"/v1/webhooks/{hook['id']}/test")
    [row] = settled(stack.api, hook, 1)
    assert row["state"] == "failed" and "loopback" in row["last_error"] and row["last_status_code"] is None
    assert stack.receiver.got == []


def test_the_pages_cli_commands(stack):
    stack.worker()
    made = json.loads(cli(stack, "webhooks", "add", stack.receiver.url, "--event", "job.succeeded",
                          "--event", "job.failed", "--json"))
    assert made["events"] == ["job.failed", "job.succeeded"] and made["secret"].startswith("whsec_")
    listed = cli(stack, "webhooks")
    assert made["id"] in listed and made["secret"] not in listed and "1 of 1" in listed
    assert "queued" in cli(stack, "webhooks", "test", made["id"])
    wait_until(lambda: "delivered" in cli(stack, "webhooks", "deliveries", made["id"]), timeout=60)
    [got] = stack.receiver.got
    assert docs_verifier()(made["secret"], got.headers, got.body) and json.loads(got.body)["event"] == "webhook.test"
    assert "deleted" in cli(stack, "webhooks", "delete", made["id"])
    assert "0 of 0" in cli(stack, "webhooks")
    refused = CliRunner().invoke(app, ["webhooks", "add", stack.receiver.url, "--event", "job.exploded",
                                       "--url", stack.api.url])
    assert refused.exit_code == 2 and "job.exploded" in refused.output
