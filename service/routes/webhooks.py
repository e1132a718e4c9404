"""Webhook subscriptions: create (the secret shown once), list, read, delete, a test delivery, the deliveries.

Deliveries are never made here: the store queues them (in the step that ends a job or a comparison, or by
`test`), and the workers' sender posts them (`worker.webhooks`), so no request waits on a receiver.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from rnncast.common.store.keys import WEBHOOK_DELIVERIES_KEPT
from rnncast.common.values import is_id, now_iso
from rnncast.common.webhooks import TEST_EVENT, new_secret, url_refusal
from rnncast.service.deps import PageDep, SettingsDep, StoreDep
from rnncast.service.errors import ERRORS, found_or_404, not_found, unprocessable
from rnncast.service.schemas.webhooks import Delivery, DeliveryList, Webhook, WebhookCreate, WebhookCreated, WebhookList

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
RESOLVE_TIMEOUT_S = 3.0  # a URL's host must resolve within this (DNS), or the subscription is refused


@router.post("", status_code=201, response_model=WebhookCreated, responses=ERRORS)
async def create_webhook(body: WebhookCreate, store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Subscribe `url` to `events`. The answer carries the signing `secret` (the one given, or a new one): it is
    never shown again. A URL that is not http(s) or whose host resolves to a loopback, private, link-local,
    multicast, reserved or unspecified address is refused (422) unless the operator allows it."""
    try:
        why = await asyncio.wait_for(run_in_threadpool(
            url_refusal, body.url, settings.webhook_allow_private, settings.webhook_networks), RESOLVE_TIMEOUT_S)
    except TimeoutError:
        why = f"url's host did not resolve within {RESOLVE_TIMEOUT_S:g} s"
    if why:
        raise unprocessable(f"url: {why}")
    webhook_id, secret = uuid.uuid4().hex, body.secret or new_secret()
    events = sorted({event.value for event in body.events})
    if not await store.create_webhook(webhook_id, body.url, secret, events, now_iso(), settings.max_webhooks):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, (
            f"webhooks quota: {settings.max_webhooks} subscriptions kept, this server's limit "
            f"RNNCAST_MAX_WEBHOOKS ({settings.max_webhooks}); delete some (DELETE /v1/webhooks/{{id}}) or ask the "
            "operator to raise the limit"))
    view: dict[str, Any] = await found_or_404("webhook", store.get_webhook, webhook_id)
    return JSONResponse(view | {"secret": secret}, status_code=201, headers={"Location": f"/v1/webhooks/{webhook_id}"})


@router.get("", response_model=WebhookList, responses=ERRORS)
async def list_webhooks(
    store: StoreDep,
    page: PageDep,
) -> JSONResponse:
    """Subscriptions newest first (never their secrets)."""
    rows, count = await store.list_webhooks(page.limit, page.offset)
    return JSONResponse({"data": rows, "count": count})


@router.get("/{webhook_id}", response_model=Webhook, responses=ERRORS)
async def get_webhook(webhook_id: str, store: StoreDep) -> JSONResponse:
    """One subscription (never its secret)."""
    return JSONResponse(await found_or_404("webhook", store.get_webhook, webhook_id))


@router.delete("/{webhook_id}", status_code=204, responses=ERRORS)
async def delete_webhook(webhook_id: str, store: StoreDep) -> None:
    """Delete a subscription and its deliveries; pending ones are not sent."""
    if not (is_id(webhook_id) and await store.delete_webhook(webhook_id)):
        raise not_found("webhook", webhook_id)


@router.post("/{webhook_id}/test", status_code=202, response_model=Delivery, responses=ERRORS)
async def test_webhook(webhook_id: str, store: StoreDep) -> JSONResponse:
    """Queue a test delivery (event `webhook.test`), signed and retried like any other; its progress is in
    `GET /v1/webhooks/{id}/deliveries`."""
    delivery_id = uuid.uuid4().hex
    if not (is_id(webhook_id) and await store.test_webhook(webhook_id, TEST_EVENT, delivery_id)):
        raise not_found("webhook", webhook_id)
    return JSONResponse(await store.delivery(delivery_id), status_code=202)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList, responses=ERRORS)
async def list_deliveries(
    webhook_id: str, store: StoreDep, limit: Annotated[int, Query(ge=1, le=WEBHOOK_DELIVERIES_KEPT)] = 50,
) -> JSONResponse:
    """The subscription's recent deliveries, newest first: event, delivery id, attempts, the last answer or
    error, the next attempt, when it was delivered."""
    await found_or_404("webhook", store.get_webhook, webhook_id)
    return JSONResponse({"data": await store.list_deliveries(webhook_id, limit)})
