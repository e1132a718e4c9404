"""Liveness, readiness and Prometheus metrics (open even when an API key is set)."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from rnncast.common.queue import QUEUES
from rnncast.service.deps import SettingsDep, StoreDep
from rnncast.service.openapi import HEALTH
from rnncast.service.schemas import ErrorBody, Readiness

router = APIRouter(tags=[HEALTH])
# /metrics asks for the key unless RNNCAST_METRICS_PUBLIC: create_app includes it with the security it declares.
metrics_router = APIRouter(tags=[HEALTH])

JOBS = Gauge("rnncast_jobs", "Jobs by status", ["status"])
QUEUE_DEPTH = Gauge("rnncast_queue_depth", "Tasks waiting in a broker queue", ["queue"])
WORKERS = Gauge("rnncast_workers", "Workers seen alive within the heartbeat timeout")
REDIS_UP = Gauge("rnncast_redis_up", "1 when the API reached Redis at the last scrape")


HOST_REFUSED: dict[int | str, dict[str, Any]] = {421: {"model": ErrorBody}}


@router.get("/healthz", responses=HOST_REFUSED)
async def live() -> dict[str, str]:
    """200 while the process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}, **HOST_REFUSED})
async def ready(store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """200 when Redis answers, at least one worker is alive and no lane thread of a predict worker has
    reported that it is not serving (dead and not yet restarted, or stuck), else 503."""
    try:
        await store.ping()
        workers = await store.live_workers(settings.heartbeat_timeout)
        lanes, down = await store.lane_report(settings.heartbeat_timeout)
    except redis.RedisError:
        return JSONResponse({"redis": "unavailable", "workers": 0}, 503, headers={"Retry-After": "5"})
    body = {"redis": "ok", "workers": workers, "lanes": lanes, "lanes_not_serving": down}
    return JSONResponse(body, 200 if workers and not down else 503)


@metrics_router.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"},
    **{code: {"model": ErrorBody} for code in (401, 429)}, **HOST_REFUSED})
async def metrics(store: StoreDep, settings: SettingsDep) -> Response:
    """Prometheus text: request counts and latency, jobs by status, queue depth, workers."""
    try:
        for status, n in (await store.counts_by_status()).items():
            JOBS.labels(status).set(n)
        for queue in QUEUES:
            QUEUE_DEPTH.labels(queue).set(await store.queue_depth(queue))
        WORKERS.set(await store.live_workers(settings.heartbeat_timeout))
        REDIS_UP.set(1)
    except redis.RedisError:
        REDIS_UP.set(0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
