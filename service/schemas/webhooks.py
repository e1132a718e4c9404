"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from rnncast.common.webhooks import MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, WebhookEvent
from rnncast.service.limits import Limited
from rnncast.service.schemas.base import Strict

MAX_URL_LENGTH = 65_536  # the ceiling; RNNCAST_MAX_WEBHOOK_URL_LENGTH is the server's own limit

Event = Annotated[WebhookEvent, Field(strict=False)]  # JSON sends the event's name


class WebhookCreate(Strict):
    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH, description=(
        "Where deliveries are POSTed: http or https, to a public address (unless the operator allows others); "
        "redirects are not followed.")), Limited("max_webhook_url_length")]
    events: list[Event] = Field(min_length=1, max_length=len(WebhookEvent), description=(
        "The events to deliver."))
    secret: str | None = Field(None, min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH, description=(
        "The HMAC-SHA256 key deliveries are signed with; omitted, the server makes one. Shown in this answer "
        "only, never again."))


class Webhook(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(Webhook):
    secret: str = Field(description="The signing secret: shown here once, never by any later read.")


class WebhookList(BaseModel):
    data: list[Webhook]
    count: int


class Delivery(BaseModel):
    id: str = Field(description="The delivery's id (the `Rnncast-Delivery` header): the same on every retry.")
    webhook_id: str
    event: str
    subject: str = Field(description="The job's or comparison's id (a test delivery: its own id).")
    state: str = Field(description="`pending` (queued or being retried), `delivered` or `failed`.")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str | None
    last_attempt_at: str | None
    next_attempt_at: str | None
    delivered_at: str | None


class DeliveryList(BaseModel):
    data: list[Delivery]
