"""The webhook sender: a thread in every worker's main process that delivers the outbox.

It claims one due delivery at a time under a lease (`webhook_lease_s`): if the
process dies mid-delivery, the delivery is due again when the lease ends and
some sender sends it again with the same delivery id (at least once; once per
receiver that dedups on `Rnncast-Delivery`). Each attempt re-checks the URL
(DNS may have changed), follows no redirect, and gives up after
`webhook_timeout_s`; a failed attempt is retried with exponential backoff and
jitter until `webhook_max_attempts`, then the delivery is marked failed.

Why in the worker: workers run wherever the service runs (compose, several
hosts), already carry its background threads (liveness, lanes), and restart
under the same supervision; the API process stays light, and no request ever
waits on a receiver.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from typing import Any

import httpx
import redis
from celery.utils.log import get_task_logger

from rnncast.common.comparisons import comparison_view, run_row
from rnncast.common.settings import Settings
from rnncast.common.store.sync import JobStore
from rnncast.common.store.webhook_ops import iso_ms
from rnncast.common.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TEST_EVENT,
    TIMESTAMP_HEADER,
    signature,
    url_refusal,
)

log = get_task_logger(__name__)
IDLE_S = 0.5  # how long the sender waits when nothing is due


def backoff_s(attempts: int, settings: Settings, rng: random.Random) -> float:
    """The wait after the `attempts`-th failed attempt: doubling from `webhook_backoff_s`, plus up to half of it
    as jitter, at most `webhook_backoff_max_s`."""
    base = settings.webhook_backoff_s * 2 ** min(attempts - 1, 60)
    return min(settings.webhook_backoff_max_s, base * (1 + rng.uniform(0, 0.5)))


def payload(store: JobStore, raw: dict[str, str]) -> str:
    """A delivery's JSON body: the event, the delivery id, when it happened, and the job or comparison as the
    API shows it at the first attempt, or the alias's move as it was made (every retry sends the same)."""
    event, subject = raw["event"], raw["subject"]
    data: Any
    if event.startswith("job."):
        text = store.job_json(subject)
        data = json.loads(text) if text else {"id": subject}
    elif event.startswith("comparison."):
        found = store.get_comparison(subject)
        data = comparison_view(found[0], [run_row(job) for job in found[1]]) if found else {"id": subject}
    elif event.startswith("alias."):  # the move as the delivery kept it (one queued before it kept none: read)
        data = json.loads(raw["data"]) if raw.get("data") else store.alias_move(subject)
    elif event == TEST_EVENT:
        data = {"webhook_id": raw["webhook_id"], "message": "a test delivery"}
    else:
        data = {"id": subject}
    return json.dumps({"id": raw["id"], "event": event, "timestamp": iso_ms(raw["created_ms"]), "data": data})


class WebhookSender(threading.Thread):
    """Delivers the outbox until stopped; a failure of one turn is logged and the next turn goes on."""

    def __init__(self, settings: Settings, store: JobStore | None = None) -> None:
        super().__init__(name="rnncast-webhooks", daemon=True)
        self.settings = settings
        self.store = store or JobStore.from_url(settings.redis_url)
        self.stopped = threading.Event()
        self.rng = random.Random()

    def run(self) -> None:
        timeout = self.settings.webhook_timeout_s
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            while not self.stopped.is_set():
                try:
                    busy = self.turn(client)
                except redis.RedisError as exc:  # Redis away: try again
                    log.warning("webhook sender: %s", exc)
                    busy = False
                except Exception:  # a bug in one delivery must not stop the others: supervised in its loop
                    log.exception("webhook sender: a turn failed")
                    busy = False
                if not busy:
                    self.stopped.wait(IDLE_S)

    def turn(self, client: httpx.Client) -> bool:
        """Claim and attempt one due delivery; whether there was one."""
        lease = uuid.uuid4().hex
        claimed = self.store.claim_deliveries(lease, int(self.settings.webhook_lease_s * 1000), 1)
        for delivery_id in claimed:
            self.attempt(client, delivery_id, lease)
        return bool(claimed)

    def attempt(self, client: httpx.Client, delivery_id: str, lease: str) -> None:
        raw = self.store.get_delivery(delivery_id)
        if raw is None:
            return
        hook = self.store.webhook_raw(raw["webhook_id"])
        if hook is None:
            self.store.end_attempt(delivery_id, lease, "failed", None, "the subscription was deleted")
            return
        body = raw.get("body") or self.store.keep_body(delivery_id, payload(self.store, raw))
        status, error = self.post(client, hook, delivery_id, body.encode())
        attempts = int(raw.get("attempts") or 1)
        if status is not None and 200 <= status < 300:
            self.store.end_attempt(delivery_id, lease, "delivered", status, "")
        elif attempts >= self.settings.webhook_max_attempts:
            log.warning("webhook delivery %s failed for good after %d attempts: %s", delivery_id, attempts, error)
            self.store.end_attempt(delivery_id, lease, "failed", status, error)
        else:
            delay_ms = int(backoff_s(attempts, self.settings, self.rng) * 1000)
            self.store.end_attempt(delivery_id, lease, "retry", status, error, delay_ms)

    def post(self, client: httpx.Client, hook: dict[str, str], delivery_id: str,
             body: bytes) -> tuple[int | None, str]:
        """Send one signed attempt: (the receiver's status or None, what went wrong or '')."""
        why = url_refusal(hook["url"], self.settings.webhook_allow_private, self.settings.webhook_networks)
        if why:
            return None, why
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": "rnncast-webhooks",
                   DELIVERY_HEADER: delivery_id, TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: signature(hook["secret"], timestamp, body)}
        try:
            answer = client.post(hook["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= answer.status_code < 300:
            return answer.status_code, ""
        if answer.is_redirect:
            return answer.status_code, "the receiver redirected: redirects are not followed"
        return answer.status_code, f"the receiver answered {answer.status_code}"

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=self.settings.webhook_timeout_s + 5)
