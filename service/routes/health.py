"""Liveness, readiness and Prometheus metrics (open even when an API key is set)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from rnncast.common.queue import QUEUES
from rnncast.service.deps import SettingsDep, StoreDep
from rnncast.service.openapi import HEALTH
from rnncast.service.schemas import ErrorBody, Readiness
from rnncast.service.schemas.jobs import WorkerDevice

router = APIRouter(tags=[HEALTH])
# /metrics asks for the key unless RNNCAST_METRICS_PUBLIC: create_app includes it with the security it declares.
metrics_router = APIRouter(tags=[HEALTH])

JOBS = Gauge("rnncast_jobs", "Jobs by status", ["status"])
QUEUE_DEPTH = Gauge("rnncast_queue_depth", "Tasks waiting in a broker queue", ["queue"])
WORKERS = Gauge("rnncast_workers", "Workers seen alive within the heartbeat timeout")
REDIS_UP = Gauge("rnncast_redis_up", "1 when the API reached Redis at the last scrape")
# From the workers' heartbeats (the API has no torch): present only where a worker has a GPU and NVML answers.
GPU_MEMORY_USED = Gauge("rnncast_gpu_memory_used_bytes", "GPU memory in use, by worker and device",
                        ["worker", "device", "name"])
GPU_MEMORY_TOTAL = Gauge("rnncast_gpu_memory_total_bytes", "GPU memory, by worker and device",
                         ["worker", "device", "name"])
GPU_UTILIZATION = Gauge("rnncast_gpu_utilization", "GPU utilisation (0-1), by worker and device",
                        ["worker", "device", "name"])
GPU_GAUGES = ((GPU_MEMORY_USED, "memory_used_bytes"), (GPU_MEMORY_TOTAL, "memory_bytes"),
              (GPU_UTILIZATION, "utilization"))


def devices(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The live workers' device reports, as /readyz shows them."""
    fields = WorkerDevice.model_fields
    return [{k: v for k, v in info.items() if k in fields} for info in infos]


def per_queue(infos: list[dict[str, Any]]) -> dict[str, int]:
    """Live workers per queue they consume, from their heartbeats."""
    return dict(Counter(str(q) for info in infos for q in info.get("queues", ())))


def export_gpus(infos: list[dict[str, Any]]) -> None:
    """Set the GPU gauges from the workers' reports (a worker gone or without a GPU: its series go)."""
    for gauge, _ in GPU_GAUGES:
        gauge.clear()
    for info in infos:
        if not str(info.get("device", "")).startswith("cuda"):
            continue
        labels = (info["name"], info["device"], str(info.get("device_name", "")))
        for gauge, field in GPU_GAUGES:
            if info.get(field) is not None:
                gauge.labels(*labels).set(info[field])


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
        infos = await store.live_worker_info(settings.heartbeat_timeout)
    except redis.RedisError:
        return JSONResponse({"redis": "unavailable", "workers": 0}, 503, headers={"Retry-After": "5"})
    body = {"redis": "ok", "workers": workers, "devices": devices(infos), "queues": per_queue(infos), "lanes": lanes,
            "lanes_not_serving": down}
    return JSONResponse(body, 200 if workers and not down else 503)


@metrics_router.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"},
    **{code: {"model": ErrorBody} for code in (401, 429)}, **HOST_REFUSED})
async def metrics(store: StoreDep, settings: SettingsDep) -> Response:
    """Prometheus text: request counts and latency, jobs by status, queue depth, workers, and each GPU's memory
    and utilisation as its worker's last heartbeat said."""
    try:
        for status, n in (await store.counts_by_status()).items():
            JOBS.labels(status).set(n)
        for queue in QUEUES:
            QUEUE_DEPTH.labels(queue).set(await store.queue_depth(queue))
        WORKERS.set(await store.live_workers(settings.heartbeat_timeout))
        export_gpus(await store.live_worker_info(settings.heartbeat_timeout))
        REDIS_UP.set(1)
    except redis.RedisError:
        REDIS_UP.set(0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
