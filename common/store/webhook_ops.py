"""Operations on webhook subscriptions and their deliveries (the outbox); the sender's claim and answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rnncast.common.store.keys import DELIVERY_TTL_S, Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.prelude import header


def iso_ms(ms: str | int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC, or None for none."""
    if ms in (None, ""):
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook_view(raw: dict[str, str]) -> dict[str, Any]:
    """A subscription as reads show it: never its secret."""
    return {"id": raw["id"], "url": raw["url"], "events": json.loads(raw["events"]), "created_at": raw["created_at"]}


def delivery_view(raw: dict[str, str]) -> dict[str, Any]:
    status = raw.get("last_status") or None
    return {
        "id": raw["id"], "webhook_id": raw["webhook_id"], "event": raw["event"], "subject": raw["subject"],
        "state": raw["state"], "attempts": int(raw.get("attempts") or 0),
        "last_status_code": int(status) if status else None, "last_error": raw.get("last_error") or None,
        "created_at": iso_ms(raw.get("created_ms")), "last_attempt_at": iso_ms(raw.get("last_attempt_ms")),
        "next_attempt_at": iso_ms(raw.get("next_ms")) if raw["state"] == "pending" else None,
        "delivered_at": iso_ms(raw.get("ended_ms")) if raw["state"] == "delivered" else None,
    }


def create_webhook(webhook_id: str, url: str, secret: str, events: list[str], created_at: str,
                   max_webhooks: int) -> Op[bool]:
    """Store a subscription; False when there are `max_webhooks` already."""
    return bool((yield from one(script("create_webhook", [], [
        *header(), webhook_id, max_webhooks, url, secret, json.dumps(events), created_at]))))


def webhook_raw(webhook_id: str) -> Op[dict[str, str] | None]:
    """A subscription as stored (its secret too: for the sender only), or None."""
    return (yield from one(cmd("hgetall", Keys.webhook(webhook_id)))) or None


def get_webhook(webhook_id: str) -> Op[dict[str, Any] | None]:
    raw = yield from webhook_raw(webhook_id)
    return webhook_view(raw) if raw else None


def list_webhooks(limit: int, offset: int) -> Op[tuple[list[dict[str, Any]], int]]:
    """Subscriptions newest first, and how many there are."""
    ids, count = yield batch(cmd("zrevrange", Keys.webhooks, offset, offset + limit - 1), cmd("zcard", Keys.webhooks))
    rows = (yield batch(*(cmd("hgetall", Keys.webhook(i)) for i in ids))) if ids else []
    return [webhook_view(raw) for raw in rows if raw], int(count)


def delete_webhook(webhook_id: str) -> Op[bool]:
    """Delete a subscription and its deliveries (pending ones are not sent); False if it is missing."""
    return bool((yield from one(script("delete_webhook", [], [*header(), webhook_id]))))


def test_webhook(webhook_id: str, event: str, delivery_id: str) -> Op[bool]:
    """Queue a test delivery; False if the subscription is missing."""
    return bool((yield from one(script("test_webhook", [], [*header(), webhook_id, event, delivery_id]))))


def list_deliveries(webhook_id: str, limit: int) -> Op[list[dict[str, Any]]]:
    """A subscription's recent deliveries, newest first."""
    ids = yield from one(cmd("zrevrange", Keys.webhook_deliveries(webhook_id), 0, limit - 1))
    rows = (yield batch(*(cmd("hgetall", Keys.delivery(i)) for i in ids))) if ids else []
    return [delivery_view(raw) for raw in rows if raw]


def get_delivery(delivery_id: str) -> Op[dict[str, str] | None]:
    """A delivery as stored, or None."""
    return (yield from one(cmd("hgetall", Keys.delivery(delivery_id)))) or None


def delivery(delivery_id: str) -> Op[dict[str, Any] | None]:
    """A delivery as reads show it, or None."""
    raw = yield from get_delivery(delivery_id)
    return delivery_view(raw) if raw else None


def claim_deliveries(lease: str, lease_ms: int, n: int) -> Op[list[str]]:
    """Up to `n` due deliveries, now held under `lease` for `lease_ms` (then due again)."""
    return list((yield from one(script("claim_deliveries", [], [*header(), lease, lease_ms, n]))))


def keep_body(delivery_id: str, body: str) -> Op[str]:
    """Store a delivery's body unless it has one (every attempt sends the first); the body it has."""
    key = Keys.delivery(delivery_id)
    _, stored = yield batch(cmd("hsetnx", key, "body", body), cmd("hget", key, "body"), atomic=True)
    return str(stored)


def end_attempt(delivery_id: str, lease: str, outcome: str, status: int | None, error: str,
                delay_ms: int = 0) -> Op[bool]:
    """Record an attempt's `outcome` ('retry', 'delivered', 'failed'); False if the lease was lost."""
    return bool((yield from one(script("end_attempt", [], [
        *header(), delivery_id, lease, outcome, "" if status is None else status, error[:500], delay_ms,
        DELIVERY_TTL_S]))))
