"""Asking a worker for a figure: queue the request on the figure lane, wait on its reply key.

Figures do not travel as Celery tasks: a thread in every predict worker
process serves them (worker.figures), so a figure never waits behind a
training job in the same pool.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Response, status

from rnncast.common.settings import Settings
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.values import now_ms


async def _ask(store: AsyncJobStore, settings: Settings, message: dict[str, Any]) -> dict[str, Any]:
    """The worker's result for `message`; its errors and silence become HTTP errors."""
    request_id = uuid.uuid4().hex
    # A request still queued when the API has given up is dropped unanswered.
    deadline_ms = now_ms() + int(settings.forecast_timeout * 1000)
    request = json.dumps({"request_id": request_id, "deadline_ms": deadline_ms, **message})
    if not await store.push_figure(request, settings.max_queued_figures, settings.forecast_timeout + 2.0):
        raise lane_full("figure", "RNNCAST_MAX_QUEUED_FIGURES")
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


def lane_full(what: str, setting: str) -> HTTPException:
    """The 429 for a request whose lane is full."""
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"too many {what} requests are waiting ({setting}); retry shortly",
                         headers={"Retry-After": "1"})


@dataclass(frozen=True)
class Worker:
    """How a route asks a predict worker to compute, and the only way: a route gets one from its `WorkerDep`
    parameter (service.deps), and that parameter is what marks the route as computing (its cross-site requests
    are refused whatever their method: service.gate)."""

    store: AsyncJobStore
    settings: Settings

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """The worker's result for `message`; its errors and silence become HTTP errors."""
        return await _ask(self.store, self.settings, message)

    async def png(self, message: dict[str, Any]) -> Response:
        """A figure a worker renders (its answer carries the PNG as base64)."""
        result = await _ask(self.store, self.settings, message)
        return Response(await asyncio.to_thread(base64.b64decode, result["png"]), media_type="image/png")
