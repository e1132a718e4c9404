"""Asking a worker for an answer: send a task to the `predict` queue, wait on its reply key."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

from fastapi import HTTPException, Response, status
from fastapi.concurrency import run_in_threadpool

from common.queue import PREDICT_QUEUE
from common.settings import Settings
from common.store.aio import AsyncJobStore


async def ask_worker(
    store: AsyncJobStore, celery: Any, settings: Settings, task: str, message: dict[str, Any]
) -> dict[str, Any]:
    """The worker's result for `message`; its errors and silence become HTTP errors."""
    request_id = uuid.uuid4().hex
    # `expires`: a request still queued when the API has given up is dropped unanswered.
    await run_in_threadpool(
        celery.send_task, task, args=[{"request_id": request_id, **message}], queue=PREDICT_QUEUE,
        expires=settings.forecast_timeout,
    )
    try:
        reply = await store.wait_reply(request_id, settings.forecast_timeout)
    except TimeoutError:
        reply = None
    if reply is None:
        raise no_worker(settings)
    if not reply["ok"]:
        raise HTTPException(reply["status"], reply["detail"])
    result: dict[str, Any] = reply["result"]
    return result


def no_worker(settings: Settings) -> HTTPException:
    """The 503 for a request no predict worker answered in time."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"no worker answered within {settings.forecast_timeout:g}s: is a worker consuming 'predict'?",
        headers={"Retry-After": "5"},
    )


async def ask_worker_png(
    store: AsyncJobStore, celery: Any, settings: Settings, task: str, message: dict[str, Any]
) -> Response:
    """A figure a worker renders (its answer carries the PNG as base64)."""
    result = await ask_worker(store, celery, settings, task, message)
    return Response(await asyncio.to_thread(base64.b64decode, result["png"]), media_type="image/png")
