"""A job's live events (Server-Sent Events), bounded in number and duration per API process."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

import redis
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema
from sse_starlette.sse import EventSourceResponse

from rnncast.common.settings import Settings
from rnncast.common.store import FINAL
from rnncast.common.store.aio import AsyncJobStore
from rnncast.service.deps import SettingsDep, StoreDep
from rnncast.service.errors import ERRORS, found_or_404
from rnncast.service.gate import STREAM_TOKEN_TTL_S, stream_token

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])
EVENT_BLOCK_MS = 5000
STREAM_RETRY_AFTER_S = "5"
# One event of the stream (what a Server-Sent Events reader yields, and Schemathesis checks each against).
EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "id": {"type": "string", "description": "resume after it with Last-Event-ID"},
    "event": {"type": "string", "enum": ["epoch", "status"]},
    "data": {"type": "string", "description": "JSON: an epoch's losses, or the job's status"},
}}
EventId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}(-[0-9]{1,20})?$", max_length=41)]  # a stream id


class StreamSlots:
    """How many event streams this API process holds open, against RNNCAST_MAX_EVENT_STREAMS.

    A stream counts from its first step to its end: one whose client left before
    it started never counts, so no place is ever lost.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0

    @property
    def full(self) -> bool:
        return self.open >= self.limit

    async def hold(self, events: AsyncIterator[dict[str, str]]) -> AsyncIterator[dict[str, str]]:
        """`events`, holding a place while they stream."""
        self.open += 1
        try:
            async for event in events:
                yield event
        finally:
            self.open -= 1


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {"itemSchema": EVENT}}, "description": "Server-Sent Events"},
               **ERRORS},
)
async def job_events(
    job_id: str, request: Request, store: StoreDep, settings: SettingsDep,
    last_event_id: Annotated[EventId | SkipJsonSchema[None], Header(alias="Last-Event-ID")] = None,
    resume: Annotated[EventId | SkipJsonSchema[None], Query(
        alias="last_event_id", description="as the Last-Event-ID header, for clients that cannot set it")] = None,
    token: Annotated[str | SkipJsonSchema[None], Query(
        max_length=200, description="with an API key set: a stream token (POST .../events/token) in place of the "
        "key, for browsers' EventSource, which cannot send headers")] = None,
) -> EventSourceResponse:
    """`epoch` events (one per finished epoch) and `status` events; ends after a final status.

    A new stream replays the job's events from the start, so a finished job's
    stream shows its whole history and its final state; send Last-Event-ID to
    pick up where a dropped stream left off. A stream also ends after
    RNNCAST_EVENT_STREAM_MAX_S (resume it with Last-Event-ID, as browsers' EventSource
    and rnncast's client do), and beyond RNNCAST_MAX_EVENT_STREAMS open streams per
    API process the answer is 429 with Retry-After.
    """
    await found_or_404("job", store.get_job, job_id)
    slots: StreamSlots = request.app.state.stream_slots
    if slots.full:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"this API process already serves {slots.limit} event streams; retry later or poll "
                            f"GET /v1/jobs/{job_id}", headers={"Retry-After": STREAM_RETRY_AFTER_S})
    events = _events(store, settings, job_id, request, last_event_id or resume or "0-0")
    return EventSourceResponse(slots.hold(events), ping=15)


class StreamToken(BaseModel):
    token: str | None = Field(description="put it in the stream's URL as ?token=; null when the API has no key")
    expires_in: int | None = Field(description="seconds it stays valid")


@router.post("/{job_id}/events/token", response_model=StreamToken, responses=ERRORS)
async def job_events_token(job_id: str, store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """A short-lived token that opens this job's event stream (and nothing else) without the key in the URL."""
    await found_or_404("job", store.get_job, job_id)
    if settings.api_key is None:
        return JSONResponse({"token": None, "expires_in": None})
    key = settings.api_key.get_secret_value().encode()
    token = stream_token(key, job_id, int(time.time()) + STREAM_TOKEN_TTL_S)
    return JSONResponse({"token": token, "expires_in": STREAM_TOKEN_TTL_S})


async def _events(
    store: AsyncJobStore, settings: Settings, job_id: str, request: Request, after: str
) -> AsyncIterator[dict[str, str]]:
    ends = time.monotonic() + settings.event_stream_max_s
    try:
        while not await request.is_disconnected() and time.monotonic() < ends:
            block_ms = int(min(EVENT_BLOCK_MS, max(1.0, (ends - time.monotonic()) * 1000)))
            events = await store.read_events(job_id, after, block_ms)
            for event_id, fields in events:
                after = event_id
                yield {"id": event_id, "event": fields["type"], "data": fields["data"]}
                if fields["type"] == "status" and json.loads(fields["data"])["status"] in FINAL:
                    return
            if not events:
                raw = await store.job_raw(job_id)
                if raw is None or raw["status"] in FINAL:
                    # The final event was trimmed away or the job vanished: end cleanly.
                    if raw is not None:
                        yield {"event": "status", "data": json.dumps({"status": raw["status"]})}
                    return
    except (redis.RedisError, TimeoutError) as exc:  # mid-stream there is no status code left to send
        log.warning("event stream for %s ended: %s", job_id, exc)

