"""Comparison bookkeeping in the job store: failures, and two last runs ending at once."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import pytest

from rnncast.common.settings import Settings
from rnncast.common.store import JobStatus, Keys
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.store.sync import JobStore
from rnncast.worker.training import run_training_job
from tests.worker.test_training import PARAMS


def create_comparison(url: str, cells: list[str]) -> tuple[str, list[str]]:
    runs = [(uuid.uuid4().hex, PARAMS | {"cell": cell, "epochs": 2}) for cell in cells]
    record = {"id": uuid.uuid4().hex, "name": None, "cells": cells, "seeds": [7], "train": {},
              "forecast": {"start": 50.0, "horizon": 5}}

    async def go() -> str:
        store = AsyncJobStore.from_url(url)
        try:
            return (await store.create_comparison(record, runs, max_queued=10_000))[0]
        finally:
            await store.close()

    return asyncio.run(go()), [job_id for job_id, _ in runs]


@pytest.fixture
def env(redis_server, tmp_path):
    return JobStore.from_url(redis_server.url), Settings(redis_url=redis_server.url, data_dir=tmp_path)


def test_a_failed_run_fails_the_comparison_with_its_error_visible(env, redis_server):
    store, settings = env
    comparison_id, (ok_id, bad_id) = create_comparison(redis_server.url, ["RNN", "GRU"])
    params = json.loads(store.r.hget(Keys.job(bad_id), "params"))
    store.r.hset(Keys.job(bad_id), "params", json.dumps(params | {"hidden_size": 0}))
    assert run_training_job(store, settings, ok_id, "w") == "succeeded"
    assert store.r.hget(Keys.comparison(comparison_id), "status") == "running"
    assert run_training_job(store, settings, bad_id, "w") == "failed"
    raw, jobs = store.get_comparison(comparison_id)
    assert raw["status"] == "failed" and raw["finished_at"]
    bad = next(j for j in jobs if j["id"] == bad_id)
    assert "hidden_size (0)" in bad["error"]
    summary = json.loads(raw["summary"])
    assert summary["RNN"]["forecast_mse"]["n"] == 1 and summary["GRU"]["forecast_mse"]["n"] == 0
    assert raw["best_cell"] == "RNN"


def test_two_last_runs_finishing_at_once_aggregate_exactly_once(env, redis_server):
    store, _ = env
    for _ in range(20):
        comparison_id, job_ids = create_comparison(redis_server.url, ["LSTM", "GRU"])
        for job_id in job_ids:
            assert store.start(job_id, f"lease-{job_id}", "cpu", 1)
        barrier, answers = threading.Barrier(2), []

        def finish(job_id: str, barrier: threading.Barrier, answers: list[int]) -> None:
            barrier.wait()
            answers.append(store.transition(job_id, JobStatus.SUCCEEDED, {JobStatus.RUNNING},
                                            holder=f"lease-{job_id}"))

        threads = [threading.Thread(target=finish, args=(j, barrier, answers)) for j in job_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == [1, 2]  # exactly one of them saw the comparison end
        assert store.r.hget(Keys.comparison(comparison_id), "remaining") == "0"
