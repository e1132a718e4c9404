"""A running job stops mid-epoch when cancelled, and fails at its time limit keeping its checkpoint."""

from __future__ import annotations

import threading
import time

from rnncast.common.artifacts import LocalStore
from rnncast.common.artifacts.layout import job_prefix
from rnncast.common.settings import Settings
from rnncast.common.store import Keys
from rnncast.common.store.sync import JobStore
from rnncast.core.checkpoint import load_checkpoint
from rnncast.worker.training import RESUME_NAME, run_training_job
from tests.support import wait_until
from tests.worker.test_training import PARAMS, create

# One epoch takes minutes: 20,000 windows in passes of one row.
LONG_EPOCH = PARAMS | {"cell": "LSTM", "epochs": 2, "batch_size": 500, "micro_batch_size": 1,
                       "data": PARAMS["data"] | {"points": 25_000, "stop": 12_500.0}}


def settings_for(url: str, tmp_path, **extra) -> Settings:
    return Settings(redis_url=url, data_dir=tmp_path / "data", device="cpu", heartbeat_interval=1,
                    heartbeat_timeout=10, **extra)


def run_in_thread(store: JobStore, settings: Settings, job_id: str) -> tuple[threading.Thread, list[str]]:
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(run_training_job(store, settings, job_id, "w")))
    thread.start()
    return thread, outcome


def test_cancel_stops_a_running_job_mid_epoch_within_seconds(redis_server, tmp_path):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url, tmp_path)
    job_id = create(redis_server.url, LONG_EPOCH)
    thread, outcome = run_in_thread(store, settings, job_id)
    wait_until(lambda: store.job_raw(job_id)["status"] == "running", timeout=30)
    time.sleep(1.0)
    asked = time.monotonic()
    store.r.hset(Keys.job(job_id), "cancel_requested", "1")  # what the API's cancel does to a running job
    thread.join(timeout=30)
    took = time.monotonic() - asked
    raw = store.job_raw(job_id)
    assert outcome == ["cancelled"] and raw["status"] == "cancelled", (outcome, raw["status"])
    assert int(raw["epoch"]) == 0 and took < 5, took  # within a second or so, long before the epoch's end


def test_a_job_past_its_time_limit_fails_and_keeps_its_checkpoint(redis_server, tmp_path):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url, tmp_path)
    job_id = create(redis_server.url, PARAMS | {"epochs": 100_000, "checkpoint_every": 1, "max_seconds": 2})
    began = time.monotonic()
    assert run_training_job(store, settings, job_id, "w") == "timed out"
    assert time.monotonic() - began < 30
    raw = store.job_raw(job_id)
    assert raw["status"] == "failed" and "time limit of 2 s" in raw["error"]
    ckpt = load_checkpoint(LocalStore(settings.data_dir).at(job_prefix(job_id)), RESUME_NAME)
    assert 1 <= ckpt.epoch <= int(raw["epoch"])


def test_the_server_cap_limits_a_job_without_max_seconds(redis_server, tmp_path):
    store = JobStore.from_url(redis_server.url)
    settings = settings_for(redis_server.url, tmp_path, max_job_seconds=1.5)
    job_id = create(redis_server.url, LONG_EPOCH)
    began = time.monotonic()
    assert run_training_job(store, settings, job_id, "w") == "timed out"
    assert time.monotonic() - began < 10  # mid-epoch: the epoch itself takes minutes
    assert "time limit of 1.5 s" in store.job_raw(job_id)["error"]
