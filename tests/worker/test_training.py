"""The training job runner in-process, against a real Redis (no Celery needed)."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import uuid

import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.artifacts.layout import job_prefix, model_prefix
from rnncast.common.options import from_params
from rnncast.common.settings import Settings
from rnncast.common.store import Keys
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.store.sync import JobStore
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.train import train
from rnncast.worker.checkpoints import PINNED
from rnncast.worker.results import MODEL_NAME
from rnncast.worker.training import RESUME_NAME, run_training_job
from tests.support import wait_until

PARAMS = {
    "cell": "GRU", "hidden_size": 4, "num_layers": 1, "dropout": 0.0, "epochs": 4, "batch_size": 64,
    "lr": 0.01, "sequence_length": 10, "seed": 7, "checkpoint_every": 2,
    "data": {"kind": "sine", "amplitude": 1.0, "period": 20.0, "phase": 0.0, "noise_std": 0.0,
             "points": 200, "stop": 100.0, "train_fraction": 0.8},
}


def create(url: str, params: dict, extra: dict | None = None) -> str:
    async def go() -> str:
        store = AsyncJobStore.from_url(url)
        try:
            job_id, _ = await store.create_job(params, job_id=uuid.uuid4().hex, name=None,
                                               epochs=params["epochs"], max_queued=10_000, extra=extra)
            return job_id
        finally:
            await store.close()

    return asyncio.run(go())


@pytest.fixture
def env(redis_server, tmp_path):
    settings = Settings(redis_url=redis_server.url, data_dir=tmp_path / "data", device="cpu")
    return JobStore.from_url(redis_server.url), settings


def test_job_on_missing_cuda_fails_with_a_clear_message(env, redis_server):
    store, settings = env
    job_id = create(redis_server.url, PARAMS)
    outcome = run_training_job(store, settings.model_copy(update={"device": "cuda"}), job_id, "w")
    job = store.get_job(job_id)
    assert outcome == "failed" and job["status"] == "failed"
    assert "CUDA" in job["error"] and job["finished_at"]


def test_unwritable_checkpoint_fails_the_job_without_leaking_paths(env, redis_server):
    store, settings = env
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "jobs").write_text("not a directory")
    job_id = create(redis_server.url, PARAMS)
    assert run_training_job(store, settings, job_id, "w") == "failed"
    job = store.get_job(job_id)
    assert job["status"] == "failed" and "Not a directory" in job["error"]
    assert str(settings.data_dir) not in job["error"]


def test_job_that_lost_its_lease_stops_and_leaves_the_record_alone(env, redis_server):
    store, settings = env
    params = PARAMS | {"epochs": 100_000, "checkpoint_every": 0}
    job_id = create(redis_server.url, params)
    original = store.record_epoch

    def steal_after_two(job, lease, epoch, *args):
        if epoch == 2:
            store.r.hset(Keys.job(job), "lease", "someone-else")
        return original(job, lease, epoch, *args)

    store.record_epoch = steal_after_two  # type: ignore[method-assign]
    assert run_training_job(store, settings, job_id, "w") == "lost"
    job = store.get_job(job_id)
    assert job["status"] == "running" and job["progress"]["epoch"] == 1


def test_queued_job_resumes_from_an_earlier_attempts_checkpoint(env, redis_server):
    store, settings = env
    full_id = create(redis_server.url, PARAMS)
    assert run_training_job(store, settings, full_id, "w") == "succeeded"
    full = store.get_job(full_id)

    job_id = create(redis_server.url, PARAMS)
    model_cfg, data_cfg, train_cfg = from_params(PARAMS)

    def save(state):
        folder = LocalStore(settings.data_dir).at(job_prefix(job_id))
        info = save_checkpoint(folder, RESUME_NAME, model=state.model, data=data_cfg, train=train_cfg,
                               epoch=state.epoch, history=state.history, optimizer=state.optimizer)
        store.r.hset(Keys.job(job_id), PINNED, info.sha256)  # as the earlier attempt's writer pins it

    train(model_cfg, data_cfg, train_cfg, on_checkpoint=save, on_epoch_end=lambda r: r.epoch == 2)
    # An earlier attempt recorded three epochs before dying; the third is redone.
    store.r.rpush(Keys.history(job_id), *[json.dumps([1.0, 1.0])] * 3)
    assert run_training_job(store, settings, job_id, "w") == "succeeded"
    job = store.get_job(job_id)
    assert job["resumed_from_epoch"] == 2 and job["attempts"] == 1
    assert job["history"]["test_loss"][2:] == full["history"]["test_loss"][2:]
    assert len(job["history"]["test_loss"]) == 4
    a = load_checkpoint(LocalStore(settings.data_dir).at(model_prefix(full_id)), MODEL_NAME).tensors
    b = load_checkpoint(LocalStore(settings.data_dir).at(model_prefix(job_id)), MODEL_NAME).tensors
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (settings.data_dir / job_prefix(job_id)).exists()  # resume files are cleaned up


def handed_back(store: JobStore, settings: Settings, params: dict) -> str:
    """A job whose first attempt trained one epoch, checkpointed and went back to the queue."""
    job_id = create(settings.redis_url, params)
    store.r.hset(Keys.job(job_id), "handoff_requested", "1")  # as a worker shutting down is asked
    assert run_training_job(store, settings, job_id, "w") == "handed back"
    assert store.get_job(job_id)["status"] == "queued"
    return job_id


def test_a_resume_refuses_a_checkpoint_its_job_did_not_write(env, redis_server, caplog):
    store, settings = env
    mine, other = (handed_back(store, settings, PARAMS | {"seed": seed}) for seed in (1, 2))
    assert store.job_raw(mine)[PINNED] != store.job_raw(other)[PINNED]
    # Another job's checkpoint (a valid one, digest and all) put in place of this job's.
    folder, theirs = settings.data_dir / job_prefix(mine), settings.data_dir / job_prefix(other)
    shutil.rmtree(folder)
    shutil.copytree(theirs, folder)
    assert run_training_job(store, settings, mine, "w") == "succeeded"
    job = store.get_job(mine)
    assert job["resumed_from_epoch"] is None and len(job["history"]["test_loss"]) == PARAMS["epochs"], job
    assert "not one it wrote" in caplog.text
    # The other job's own checkpoint still resumes.
    assert run_training_job(store, settings, other, "w") == "succeeded"
    assert store.get_job(other)["resumed_from_epoch"] == 1


LONG_FORECAST = 2_000_000  # steps: over a minute of rollout for a GRU of 128 units (core.kernel included)


@pytest.mark.parametrize("every", [1, 0], ids=["probe", "final forecast"])
def test_a_cancel_stops_a_comparison_runs_forecast(env, redis_server, every):
    store, settings = env
    spec = {"horizon": LONG_FORECAST, "start": 0.0, "every": every}
    job_id = create(redis_server.url, PARAMS | {"epochs": 2, "hidden_size": 128},
                    extra={"forecast_spec": json.dumps(spec)})
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(run_training_job(store, settings, job_id, "w")),
                              daemon=True)
    runner.start()
    wait_until(lambda: store.get_job(job_id)["status"] == "running", timeout=30)
    time.sleep(2)  # the run is in its forecast by now (two epochs of this job take milliseconds)
    asked = time.monotonic()
    store.r.hset(Keys.job(job_id), "cancel_requested", "1")
    runner.join(timeout=30)
    assert outcome == ["cancelled"], (outcome, store.get_job(job_id)["status"])
    assert time.monotonic() - asked < 15  # the whole rollout takes over 60 s
    assert not (settings.data_dir / model_prefix(job_id)).exists()  # no record names a model


def test_a_job_that_is_not_queued_is_not_run_twice(env, redis_server):
    store, settings = env
    job_id = create(redis_server.url, PARAMS | {"epochs": 1})
    assert run_training_job(store, settings, job_id, "w") == "succeeded"
    assert run_training_job(store, settings, job_id, "w") == "succeeded"  # reports, does nothing
    assert store.get_job(job_id)["attempts"] == 1
    assert run_training_job(store, settings, uuid.uuid4().hex, "w") == "missing"


def test_params_recorded_before_micro_batches_existed_train_whole_batches():
    assert "micro_batch_size" not in PARAMS
    assert from_params(PARAMS)[2].micro_batch_size == 0
    assert from_params(PARAMS | {"micro_batch_size": 16})[2].micro_batch_size == 16
