"""The workers' store: runs the store's operations with blocking redis-py."""

from __future__ import annotations

from typing import Any

import redis

from rnncast.common.store import (
    alias_ops,
    comparison_ops,
    dataset_ops,
    job_ops,
    lane_ops,
    model_ops,
    search_ops,
    session_ops,
    webhook_ops,
    worker_ops,
)
from rnncast.common.store.executor import Runner, send, sync_op
from rnncast.common.store.plan import Batch, Op, T, advance
from rnncast.common.store.scripts import SCRIPTS


class JobStore(Runner):
    """Job records, leases, progress and models, as a worker uses them."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._scripts = {name: client.register_script(source) for name, source in SCRIPTS.items()}

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
            health_check_interval=30, retry_on_timeout=True,
        )
        return cls(client)

    def run(self, op: Op[T]) -> T:
        """Run one store operation to its result."""
        step, result = advance(op, None)
        while step is not None:
            step, result = advance(op, self._execute(step))
        return result  # type: ignore[return-value]

    def _execute(self, step: Batch) -> list[Any]:
        if len(step.calls) == 1 and not step.atomic:
            return [send(self.r, step.calls[0], self._scripts)]
        pipe = self.r.pipeline(transaction=step.atomic)
        for call in step.calls:
            send(pipe, call, self._scripts)
        return pipe.execute()

    job_raw = sync_op(job_ops.job_raw)
    get_job = sync_op(job_ops.get_job)
    transition = sync_op(job_ops.transition)
    start = sync_op(job_ops.start)
    finish = sync_op(job_ops.finish)
    hand_back = sync_op(job_ops.hand_back)
    record_epoch = sync_op(job_ops.record_epoch)
    truncate_history = sync_op(job_ops.truncate_history)
    heartbeat = sync_op(job_ops.heartbeat)
    get_comparison = sync_op(comparison_ops.get_comparison)
    get_search = sync_op(search_ops.get_search)
    record_score = sync_op(search_ops.record_score)
    start_refit = sync_op(search_ops.start_refit)
    fail_search = sync_op(search_ops.fail_search)
    search_cancel_requested = sync_op(search_ops.cancel_requested)
    get_dataset = sync_op(dataset_ops.get_dataset)
    existing_models = sync_op(model_ops.existing_models)
    model_records = sync_op(model_ops.model_records)
    register_worker = sync_op(worker_ops.register_worker)
    unregister_worker = sync_op(worker_ops.unregister_worker)
    worker_beat_age = sync_op(worker_ops.worker_beat_age)
    live_workers = sync_op(worker_ops.live_workers)
    live_worker_info = sync_op(worker_ops.live_worker_info)
    api_artifacts = sync_op(worker_ops.api_artifacts)
    beat_lanes = sync_op(worker_ops.beat_lanes)
    end_lanes = sync_op(worker_ops.end_lanes)
    request_handoff = sync_op(worker_ops.request_handoff)
    stale_running = sync_op(worker_ops.stale_running)
    recover = sync_op(worker_ops.recover)
    queued_before = sync_op(worker_ops.queued_before)
    broker_messages = sync_op(worker_ops.broker_messages)
    sweep_expired = sync_op(worker_ops.sweep_expired)
    index_ended_before_retention = sync_op(worker_ops.index_ended_before_retention)
    pop_forecasts = sync_op(lane_ops.pop_forecasts)
    more_forecasts = sync_op(lane_ops.more_forecasts)
    push_answers = sync_op(lane_ops.push_answers)
    push_reply = sync_op(lane_ops.push_reply)
    pop_figure = sync_op(lane_ops.pop_figure)
    job_json = sync_op(job_ops.job_json)
    webhook_raw = sync_op(webhook_ops.webhook_raw)
    get_delivery = sync_op(webhook_ops.get_delivery)
    claim_deliveries = sync_op(webhook_ops.claim_deliveries)
    keep_body = sync_op(webhook_ops.keep_body)
    end_attempt = sync_op(webhook_ops.end_attempt)
    alias_move = sync_op(alias_ops.alias_move)
    move_alias = sync_op(alias_ops.move_alias)
    get_alias = sync_op(alias_ops.get_alias)
    read_sessions = sync_op(session_ops.read_sessions)
    save_sessions = sync_op(session_ops.save_sessions)
