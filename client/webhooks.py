"""The client's webhook calls and result types (`Client` has them through `WebhookCalls`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from rnncast.client.transport import Transport
from rnncast.common.defaults import LIST_PAGE

T = TypeVar("T", bound=BaseModel)


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Webhook(_Result):
    """A subscription: where deliveries go and which events (its secret is shown at creation only)."""

    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(Webhook):
    secret: str


class WebhookPage(_Result):
    data: list[Webhook]
    count: int


class Delivery(_Result):
    """One event's delivery to one subscription: its id is the `Rnncast-Delivery` header, the same on retries."""

    id: str
    webhook_id: str
    event: str
    subject: str
    state: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str | None
    last_attempt_at: str | None
    next_attempt_at: str | None
    delivered_at: str | None


class DeliveryPage(_Result):
    data: list[Delivery]


class WebhookCalls(Transport):
    """`/v1/webhooks` as methods."""

    def add_webhook(self, url: str, events: Sequence[str], *, secret: str | None = None) -> WebhookCreated:
        """Subscribe `url` to `events`; the answer's `secret` is shown this once (keep it: it verifies deliveries)."""
        body: dict[str, Any] = {"url": url, "events": list(events)}
        if secret is not None:
            body["secret"] = secret
        return WebhookCreated.model_validate(self._request("POST", "/v1/webhooks", retry=False, json=body).json())

    def webhooks(self, *, limit: int = LIST_PAGE, offset: int = 0) -> WebhookPage:
        return self._get("/v1/webhooks", WebhookPage, limit=limit, offset=offset)

    def webhook(self, webhook_id: str) -> Webhook:
        return self._get(f"/v1/webhooks/{webhook_id}", Webhook)

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a subscription and its deliveries (pending ones are not sent)."""
        self._request("DELETE", f"/v1/webhooks/{webhook_id}", retry=True)

    def test_webhook(self, webhook_id: str) -> Delivery:
        """Queue a test delivery (event `webhook.test`); follow it with `deliveries`."""
        return Delivery.model_validate(self._request("POST", f"/v1/webhooks/{webhook_id}/test", retry=False).json())

    def deliveries(self, webhook_id: str, *, limit: int = 50) -> DeliveryPage:
        """A subscription's recent deliveries, newest first."""
        return self._get(f"/v1/webhooks/{webhook_id}/deliveries", DeliveryPage, limit=limit)
