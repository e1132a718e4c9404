"""The API's side of the job store (redis.asyncio, never blocks the event loop)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import redis.asyncio as aredis

from common.comparisons import final_fields, run_row
from common.store.base import (
    CANCEL,
    CREATE_JOB,
    FINAL,
    IDEMPOTENCY_TTL_S,
    PREFIX,
    JobStatus,
    Keys,
    dumps,
    flatten,
    job_view,
    now_iso,
    now_ms,
    status_event,
)

BLOCK_SLACK_S = 5.0


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used with a different request body."""


class QueueFull(Exception):
    """Too many jobs are queued; try again later."""


def as_mapping(fields: dict[str, Any]) -> dict[Any, Any]:
    """`flatten`'s field/value pairs as a mapping for HSET."""
    flat = flatten(fields)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def job_fields(
    job_id: str, params: dict[str, Any], name: str | None, epochs: int, created_ms: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The hash of a new queued job."""
    return {
        "id": job_id, "kind": "train", "name": name, "status": JobStatus.QUEUED.value,
        "params": params, "epochs": epochs, "epoch": 0, "attempts": 0,
        "created_at": now_iso(), "created_ms": created_ms, **(extra or {}),
    }


class AsyncJobStore:
    """Job and model records as the API reads and writes them."""

    def __init__(self, client: aredis.Redis, blocking: aredis.Redis | None = None) -> None:
        self.r = client
        # Blocking reads (XREAD BLOCK, BLPOP) wait longer than the normal
        # socket timeout allows; they get their own pool, bounded by wait_for.
        self.blocking = blocking or client
        self._create = client.register_script(CREATE_JOB)
        self._cancel = client.register_script(CANCEL)

    @classmethod
    def from_url(cls, url: str) -> AsyncJobStore:
        client = aredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2, max_connections=512,
        )
        blocking = aredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=None, socket_connect_timeout=2, max_connections=1024,
        )
        return cls(client, blocking)

    async def close(self) -> None:
        await self.r.aclose()
        if self.blocking is not self.r:
            await self.blocking.aclose()

    async def ping(self) -> bool:
        return bool(await self.r.ping())

    async def create_job(
        self,
        params: dict[str, Any],
        *,
        job_id: str,
        name: str | None,
        epochs: int,
        max_queued: int,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, bool]:
        """Store a new queued job; return (job id, created?).

        With an idempotency key already seen, returns the earlier job's id and
        False, or raises IdempotencyConflict if that request differed.
        """
        created_ms = now_ms()
        fields = job_fields(job_id, params, name, epochs, created_ms, extra)
        idem_key = Keys.idempotency("jobs", idempotency_key or "-")
        state, value = await self._create(
            keys=[Keys.job(job_id), Keys.jobs, Keys.jobs_by_status("queued"), idem_key, Keys.events(job_id)],
            args=[job_id, created_ms, fingerprint, "1" if idempotency_key else "0", IDEMPOTENCY_TTL_S,
                  max_queued, status_event("queued"), *flatten(fields)],
        )
        if state == "full":
            raise QueueFull(f"{max_queued} jobs are already queued")
        if state == "exists":
            earlier = json.loads(value)
            if earlier["fingerprint"] != fingerprint:
                raise IdempotencyConflict("Idempotency-Key was already used with a different request")
            return earlier["id"], False
        return job_id, True

    async def delete_job(self, job_id: str) -> None:
        """Forget a job that could not be enqueued (its indexes too)."""
        pipe = self.r.pipeline(transaction=True)
        for status in JobStatus:
            pipe.zrem(Keys.jobs_by_status(status.value), job_id)
        pipe.zrem(Keys.jobs, job_id)
        pipe.delete(Keys.job(job_id), Keys.history(job_id), Keys.events(job_id), Keys.view(job_id))
        await pipe.execute()

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(Keys.job(job_id))
        pipe.lrange(Keys.history(job_id), 0, -1)
        raw, history = await pipe.execute()
        return job_view(raw, history) if raw else None

    async def job_json(self, job_id: str) -> str | None:
        """A job's public JSON; a finished job's is rendered once and then served as stored."""
        cached = await self.r.get(Keys.view(job_id))
        if cached is not None:
            return str(cached)
        job = await self.get_job(job_id)
        if job is None:
            return None
        text = dumps(job)
        if job["status"] in FINAL:
            await self.r.set(Keys.view(job_id), text)
        return text

    async def list_jobs(
        self, status: JobStatus | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Jobs newest first, optionally of one status, and how many there are."""
        index = Keys.jobs_by_status(status.value) if status else Keys.jobs
        pipe = self.r.pipeline(transaction=False)
        pipe.zrevrange(index, offset, offset + limit - 1)
        pipe.zcard(index)
        ids, count = await pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(Keys.job(job_id))
            pipe.lrange(Keys.history(job_id), 0, -1)
        rows = await pipe.execute()
        jobs = [job_view(rows[i], rows[i + 1]) for i in range(0, len(rows), 2) if rows[i]]
        return jobs, int(count)

    async def cancel_job(self, job_id: str) -> str:
        """'cancelled', 'requested', 'missing', or 'ended:<final status>'."""
        event = status_event(JobStatus.CANCELLED.value)
        return str(await self._cancel(
            keys=[Keys.job(job_id), Keys.events(job_id)], args=[PREFIX + "jobs:", now_iso(), event]
        ))

    async def read_events(
        self, job_id: str, after: str, block_ms: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Events after stream id `after`, waiting up to `block_ms` for one."""
        reply: Any = await asyncio.wait_for(
            self.blocking.xread({Keys.events(job_id): after}, block=block_ms, count=1000),
            timeout=block_ms / 1000 + BLOCK_SLACK_S,
        )
        return [(entry_id, fields) for _, entries in reply for entry_id, fields in entries]

    async def counts_by_status(self) -> dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        for status in JobStatus:
            pipe.zcard(Keys.jobs_by_status(status.value))
        counts = await pipe.execute()
        return {status.value: int(n) for status, n in zip(JobStatus, counts, strict=True)}

    async def live_workers(self, within_s: float) -> int:
        return int(await self.r.zcount(Keys.workers, time.time() - within_s, "+inf"))

    async def queue_depth(self, queue: str) -> int:
        # Celery's Redis transport keeps each queue as a list named after it.
        return int(await self.r.llen(queue))

    async def get_model(self, model_id: str) -> dict[str, Any] | None:
        raw = await self.r.get(Keys.model(model_id))
        return json.loads(raw) if raw else None

    async def list_models(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        pipe = self.r.pipeline(transaction=False)
        pipe.zrevrange(Keys.models, offset, offset + limit - 1)
        pipe.zcard(Keys.models)
        ids, count = await pipe.execute()
        raws = await self.r.mget([Keys.model(i) for i in ids]) if ids else []
        return [json.loads(r) for r in raws if r], int(count)

    async def wait_reply(self, request_id: str, timeout: float) -> dict[str, Any] | None:
        """A worker's answer to `request_id`, or None after `timeout` seconds."""
        reply = await asyncio.wait_for(
            self.blocking.blpop([Keys.reply(request_id)], timeout=timeout), timeout=timeout + BLOCK_SLACK_S
        )
        return json.loads(reply[1]) if reply else None

    async def push_forecast(self, request: str, expire_s: float | None = None) -> None:
        """Queue one forecast request for the predict workers; with `expire_s`, (re)set the
        queue's time to live too (a queue nobody consumes must not grow without bound)."""
        if expire_s is None:
            await self.r.lpush(Keys.forecasts, request)
            return
        pipe = self.r.pipeline(transaction=False)
        pipe.lpush(Keys.forecasts, request)
        pipe.expire(Keys.forecasts, math.ceil(expire_s))
        await pipe.execute()

    async def pop_answers(self, inbox: str, limit: int, block_s: float) -> list[str]:
        """Up to `limit` answers from this process's inbox; waits up to `block_s` for the first."""
        key = Keys.replies(inbox)
        first = await asyncio.wait_for(self.blocking.blpop([key], timeout=block_s), timeout=block_s + BLOCK_SLACK_S)
        if first is None:
            return []
        more = await self.r.lpop(key, limit - 1) if limit > 1 else None
        return [first[1], *(more or [])]

    async def delete_model(self, model_id: str) -> bool:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(Keys.model(model_id))
        pipe.zrem(Keys.models, model_id)
        deleted, _ = await pipe.execute()
        return bool(deleted)

    # Comparisons -----------------------------------------------------------

    async def create_comparison(
        self,
        record: dict[str, Any],
        runs: list[tuple[str, dict[str, Any]]],
        *,
        max_queued: int,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[str, bool]:
        """Store a comparison and its queued runs at once; (comparison id, created?)."""
        comparison_id = record["id"]
        if idempotency_key:
            key = Keys.idempotency("comparisons", idempotency_key)
            mine = json.dumps({"id": comparison_id, "fingerprint": fingerprint})
            if not await self.r.set(key, mine, nx=True, ex=IDEMPOTENCY_TTL_S):
                earlier = json.loads(await self.r.get(key) or mine)
                if earlier["fingerprint"] != fingerprint:
                    raise IdempotencyConflict("Idempotency-Key was already used with a different request")
                return earlier["id"], False
        if await self.r.zcard(Keys.jobs_by_status("queued")) + len(runs) > max_queued:
            if idempotency_key:
                await self.r.delete(Keys.idempotency("comparisons", idempotency_key))
            raise QueueFull(f"{len(runs)} more jobs would exceed the {max_queued} queued jobs allowed")
        created_ms = now_ms()
        pipe = self.r.pipeline(transaction=True)
        for job_id, params in runs:
            fields = job_fields(job_id, params, record.get("name"), params["epochs"], created_ms,
                                {"comparison_id": comparison_id, "forecast_spec": record["forecast"]})
            pipe.hset(Keys.job(job_id), mapping=as_mapping(fields))
            pipe.zadd(Keys.jobs, {job_id: created_ms})
            pipe.zadd(Keys.jobs_by_status("queued"), {job_id: created_ms})
            pipe.xadd(Keys.events(job_id), {"type": "status", "data": status_event("queued")})
        fields = {**record, "status": "running", "remaining": len(runs), "created_at": now_iso(),
                  "created_ms": created_ms, "job_ids": [job_id for job_id, _ in runs]}
        pipe.hset(Keys.comparison(comparison_id), mapping=as_mapping(fields))
        pipe.zadd(Keys.comparisons, {comparison_id: created_ms})
        await pipe.execute()
        return comparison_id, True

    async def get_comparison(self, comparison_id: str) -> tuple[dict[str, str], list[dict[str, str]]] | None:
        """The comparison's hash and its runs' job hashes, in creation order."""
        raw: dict[str, str] = await self.r.hgetall(Keys.comparison(comparison_id))  # type: ignore[assignment]
        if not raw:
            return None
        pipe = self.r.pipeline(transaction=False)
        for job_id in json.loads(raw["job_ids"]):
            pipe.hgetall(Keys.job(job_id))
        return raw, [job for job in await pipe.execute() if job]

    async def list_comparisons(self, limit: int, offset: int) -> tuple[list[str], int]:
        pipe = self.r.pipeline(transaction=False)
        pipe.zrevrange(Keys.comparisons, offset, offset + limit - 1)
        pipe.zcard(Keys.comparisons)
        ids, count = await pipe.execute()
        return list(ids), int(count)

    async def finalize_comparison(self, comparison_id: str) -> None:
        """Write the final status and summary (once: only while it is still running)."""
        found = await self.get_comparison(comparison_id)
        if found is None or found[0]["status"] != "running":
            return
        raw, jobs = found
        final: dict[Any, Any] = final_fields([run_row(j) for j in jobs], json.loads(raw["cells"]), now_iso())
        await self.r.hset(Keys.comparison(comparison_id), mapping=final)

    async def cancel_comparison(self, comparison_id: str, job_ids: list[str]) -> None:
        """Cancel every unfinished run; finalize if that ended the last one."""
        await self.r.hset(Keys.comparison(comparison_id), "cancel_requested", "1")
        for job_id in job_ids:
            if await self.cancel_job(job_id) == "cancelled:last":
                await self.finalize_comparison(comparison_id)
