"""The API's store: runs the store's operations with redis.asyncio (never blocks the event loop)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aredis

from rnncast.common.store import (
    admission,
    alias_ops,
    comparison_jobs,
    comparison_ops,
    dataset_ops,
    id_ops,
    import_ops,
    job_ops,
    label_ops,
    lane_ops,
    model_ops,
    search_ops,
    session_ops,
    webhook_ops,
    worker_ops,
)
from rnncast.common.store.admission import DatasetGone, IdempotencyConflict, QueueFull, Quota, QuotaExceeded
from rnncast.common.store.executor import AsyncRunner, async_op, send
from rnncast.common.store.plan import Batch, Op, T, advance
from rnncast.common.store.scripts import SCRIPTS

__all__ = ["AsyncJobStore", "DatasetGone", "IdempotencyConflict", "QueueFull", "Quota", "QuotaExceeded"]

BLOCK_SLACK_S = 5.0


class AsyncJobStore(AsyncRunner):
    """Job, comparison and model records as the API reads and writes them."""

    def __init__(
        self, client: aredis.Redis, blocking: aredis.Redis | None = None, streams: aredis.Redis | None = None,
    ) -> None:
        self.r = client
        # Blocking reads (BLPOP of forecast answers and figure replies) wait
        # longer than the normal socket timeout allows; they get their own pool,
        # bounded by a timeout. Event streams (XREAD BLOCK, one connection each for
        # as long as a job runs) get another, so idle streams cannot take the
        # connections forecasts need.
        self.blocking = blocking or client
        self.streams = streams or self.blocking
        self._scripts = {name: client.register_script(source) for name, source in SCRIPTS.items()}

    @classmethod
    def from_url(cls, url: str) -> AsyncJobStore:
        client = aredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2, max_connections=512,
        )
        blocking, streams = (aredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=None, socket_connect_timeout=2, max_connections=size,
        ) for size in (1024, 1024))
        return cls(client, blocking, streams)

    async def close(self) -> None:
        for client in {id(c): c for c in (self.r, self.blocking, self.streams)}.values():
            await client.aclose()

    async def ping(self) -> bool:
        return bool(await self.r.ping())

    async def run(self, op: Op[T]) -> T:
        """Run one store operation to its result."""
        step, result = advance(op, None)
        while step is not None:
            step, result = advance(op, await self._execute(step))
        return result  # type: ignore[return-value]

    async def _execute(self, step: Batch) -> list[Any]:
        if step.block_s is not None:
            # A timeout scope on this task, not wait_for (which runs the read in a task of its own, once per pop).
            async with asyncio.timeout(step.block_s + BLOCK_SLACK_S):
                return [await send(self.streams if step.stream else self.blocking, step.calls[0], self._scripts)]
        if len(step.calls) == 1 and not step.atomic:
            return [await send(self.r, step.calls[0], self._scripts)]
        pipe = self.r.pipeline(transaction=step.atomic)
        for call in step.calls:
            queued = send(pipe, call, self._scripts)
            if call.script is not None:  # an async script call is a coroutine even on a pipeline
                await queued
        return list(await pipe.execute())

    create_job = async_op(job_ops.create_job)
    discard_job = async_op(job_ops.discard_job)
    delete_job = async_op(job_ops.delete_job)
    get_job = async_op(job_ops.get_job)
    job_raw = async_op(job_ops.job_raw)
    job_json = async_op(job_ops.job_json)
    list_jobs = async_op(job_ops.list_jobs)
    cancel_job = async_op(job_ops.cancel_job)
    counts_by_status = async_op(job_ops.counts_by_status)
    read_events = async_op(job_ops.read_events)
    create_comparison = async_op(comparison_jobs.create_comparison)
    cancel_comparison = async_op(comparison_jobs.cancel_comparison)
    abandon_comparison = async_op(comparison_jobs.abandon_comparison)
    delete_comparison = async_op(comparison_jobs.delete_comparison)
    get_comparison = async_op(comparison_ops.get_comparison)
    list_comparisons = async_op(comparison_ops.list_comparisons)
    get_search = async_op(search_ops.get_search)
    list_searches = async_op(search_ops.list_searches)
    cancel_search = async_op(search_ops.cancel_search)
    delete_search_index = async_op(search_ops.delete_search_index)
    get_model = async_op(model_ops.get_model)
    list_models = async_op(model_ops.list_models)
    delete_model = async_op(model_ops.delete_model)
    set_model_field = async_op(model_ops.set_model_field)
    create_dataset = async_op(admission.create_dataset)
    import_model = async_op(import_ops.import_model)
    get_dataset = async_op(dataset_ops.get_dataset)
    list_datasets = async_op(dataset_ops.list_datasets)
    delete_dataset = async_op(dataset_ops.delete_dataset)
    live_workers = async_op(worker_ops.live_workers)
    lane_report = async_op(worker_ops.lane_report)
    live_worker_info = async_op(worker_ops.live_worker_info)
    record_api_artifacts = async_op(worker_ops.record_api_artifacts)
    queue_depth = async_op(worker_ops.queue_depth)
    admit_forecasts = async_op(lane_ops.admit_forecasts)
    pop_answers = async_op(lane_ops.pop_answers)
    wait_reply = async_op(lane_ops.wait_reply)
    push_figure = async_op(lane_ops.push_figure)
    ids_with_prefix = async_op(id_ops.ids_with_prefix)
    relabel = async_op(label_ops.relabel)
    create_webhook = async_op(webhook_ops.create_webhook)
    get_webhook = async_op(webhook_ops.get_webhook)
    list_webhooks = async_op(webhook_ops.list_webhooks)
    delete_webhook = async_op(webhook_ops.delete_webhook)
    test_webhook = async_op(webhook_ops.test_webhook)
    list_deliveries = async_op(webhook_ops.list_deliveries)
    delivery = async_op(webhook_ops.delivery)
    move_alias = async_op(alias_ops.move_alias)
    alias_target = async_op(alias_ops.alias_target)
    get_alias = async_op(alias_ops.get_alias)
    aliases_of = async_op(alias_ops.aliases_of)
    list_aliases = async_op(alias_ops.list_aliases)
    delete_alias = async_op(alias_ops.delete_alias)
    hold_model = async_op(alias_ops.hold_model)
    release_model = async_op(alias_ops.release_model)
    get_session = async_op(session_ops.get_session)
    delete_session = async_op(session_ops.delete_session)
