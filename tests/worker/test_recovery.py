"""Recovery passes against a real Redis: stale running jobs, and queued jobs whose task message is gone."""

from __future__ import annotations

import json
import time

import pytest

from rnncast.common.queue import TRAIN_QUEUE, TRAIN_TASK, make_celery
from rnncast.common.settings import Settings
from rnncast.common.store import JobStatus, Keys
from rnncast.common.store.keys import EVENTS_MAXLEN, HISTORY_MAXLEN
from rnncast.common.store.sync import JobStore
from rnncast.worker.recovery import recover_once
from tests.support import RedisServer
from tests.worker.test_training import PARAMS, create


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A Redis of its own: no worker of the session's stack may recover these jobs first."""
    server = RedisServer(tmp_path_factory.mktemp("recovery-redis")).start()
    yield server
    server.stop()


def settings_for(url: str) -> Settings:
    return Settings(redis_url=url, heartbeat_timeout=10, heartbeat_interval=1, max_attempts=2)


def age(store: JobStore, job_id: str, seconds: float) -> None:
    """Pretend the job was created `seconds` ago."""
    created = int((time.time() - seconds) * 1000)
    store.r.hset(Keys.job(job_id), "created_ms", created)
    store.r.zadd(Keys.jobs_by_status("queued"), {job_id: created})


def test_stale_running_job_is_requeued_then_failed_after_max_attempts(redis_server):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url)
    job_id = create(redis_server.url, PARAMS)
    sent: list[str] = []
    for attempt in (1, 2):
        assert store.start(job_id, f"lease{attempt}", "cpu", attempt)
        store.r.hset(Keys.job(job_id), "heartbeat_at", time.time() - 30)
        done = recover_once(store, settings, sent.append, check_queued=False)
        assert (done.requeued, done.failed) == (([job_id], []) if attempt == 1 else ([], [job_id]))
    job = store.get_job(job_id)
    assert sent == [job_id] and job["status"] == "failed" and "RNNCAST_MAX_ATTEMPTS=2" in job["error"]


def test_fresh_heartbeat_is_left_alone(redis_server):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url)
    job_id = create(redis_server.url, PARAMS)
    assert store.start(job_id, "lease", "cpu", 1)
    done = recover_once(store, settings, lambda _: None, check_queued=False)
    assert job_id not in done.requeued and store.get_job(job_id)["status"] == "running"


def test_queued_job_whose_message_is_lost_or_held_by_a_dead_worker_is_resent(redis_server):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url)
    r = store.r
    waiting, fresh, stale, lost = (create(redis_server.url, PARAMS) for _ in range(4))
    for job_id in (waiting, fresh, stale, lost):
        age(store, job_id, 60)
    r.rpush(TRAIN_QUEUE, json.dumps({"headers": {"argsrepr": f"['{waiting}']"}}))
    for tag, job_id, reserved_at in (("t1", fresh, time.time()), ("t2", stale, time.time() - 60)):
        r.hset("unacked", tag, json.dumps([{"headers": {"argsrepr": f"['{job_id}']"}}, "train", "train"]))
        r.zadd("unacked_index", {tag: reserved_at})
    sent: list[str] = []
    done = recover_once(store, settings, sent.append)
    assert set(done.resent) == set(sent) == {stale, lost}


def test_a_search_refit_waiting_for_its_choice_is_not_resent(redis_server):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url)
    awaiting, lost = (create(redis_server.url, PARAMS) for _ in range(2))
    store.r.hset(Keys.job(awaiting), "awaiting", "search")
    for job_id in (awaiting, lost):
        age(store, job_id, 60)
    sent: list[str] = []
    recover_once(store, settings, sent.append)
    assert lost in sent and awaiting not in sent  # (earlier tests' queued jobs may be resent too)


def test_a_new_attempt_keeps_history_up_to_its_checkpoint_or_none_without_one(redis_server):
    store = JobStore.from_url(redis_server.url)
    job_id = "e" * 32
    store.r.rpush(Keys.history(job_id), *[json.dumps([0.1, 0.2])] * 7)
    store.truncate_history(job_id, 5)  # resumed from the epoch-5 checkpoint
    assert store.r.llen(Keys.history(job_id)) == 5
    store.truncate_history(job_id, 0)  # no checkpoint: the attempt starts over
    assert store.r.llen(Keys.history(job_id)) == 0


def test_a_lost_job_whose_cancel_was_asked_ends_cancelled_not_requeued(redis_server):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url)
    job_id = create(redis_server.url, PARAMS)
    assert store.start(job_id, "lease", "cpu", 1)
    store.r.hset(Keys.job(job_id), mapping={"cancel_requested": "1", "handoff_requested": "1",
                                            "heartbeat_at": time.time() - 30})
    sent: list[str] = []
    done = recover_once(store, settings, sent.append, check_queued=False)
    assert done.cancelled == [job_id] and not done.requeued and sent == []
    raw = store.job_raw(job_id)
    assert raw["status"] == "cancelled" and raw["finished_at"] and raw["handoff_requested"] == ""
    assert store.r.zscore(Keys.jobs_by_status("cancelled"), job_id) is not None


def test_a_requeued_job_loses_a_pending_hand_back_request(redis_server):
    store, settings = JobStore.from_url(redis_server.url), settings_for(redis_server.url)
    job_id = create(redis_server.url, PARAMS)
    assert store.start(job_id, "lease", "cpu", 1)
    store.r.hset(Keys.job(job_id), mapping={"handoff_requested": "1", "heartbeat_at": time.time() - 30})
    done = recover_once(store, settings, lambda _: None, check_queued=False)
    assert done.requeued == [job_id] and store.job_raw(job_id)["handoff_requested"] == ""


def test_heartbeats_are_stamped_by_redis_clock(redis_server):
    store = JobStore.from_url(redis_server.url)
    job_id = create(redis_server.url, PARAMS)
    assert store.start(job_id, "lease", "cpu", 1)
    seconds, micros = store.r.time()
    assert abs(float(store.job_raw(job_id)["heartbeat_at"]) - (seconds + micros / 1e6)) < 2
    store.r.hset(Keys.job(job_id), "heartbeat_at", 0)
    assert store.heartbeat(job_id, "lease")
    assert float(store.job_raw(job_id)["heartbeat_at"]) > seconds - 2


def test_a_worker_that_lost_its_lease_saves_no_model_and_no_result(redis_server):
    store = JobStore.from_url(redis_server.url)
    job_id = create(redis_server.url, PARAMS)
    assert store.start(job_id, "theirs", "cpu", 1)
    record = {"id": job_id, "job_id": job_id, "cell": "GRU"}
    assert store.finish(job_id, "mine", JobStatus.SUCCEEDED, model=record, model_id=job_id) == 0
    assert not store.r.exists(Keys.model(job_id)) and store.r.zscore(Keys.models, job_id) is None
    assert store.job_raw(job_id)["status"] == "running"
    assert store.finish(job_id, "theirs", JobStatus.SUCCEEDED, model=record, model_id=job_id) == 1
    assert json.loads(store.r.get(Keys.model(job_id)))["cell"] == "GRU"
    assert store.r.zscore(Keys.models, job_id) is not None


def test_jobs_and_comparisons_that_ended_before_retention_existed_are_indexed_once_and_expire(
    redis_server, tmp_path,
):
    from rnncast.common.artifacts import LocalStore
    from rnncast.worker.recovery import expire_once

    store = JobStore.from_url(redis_server.url)
    store.r.delete(Keys.ended_indexed, Keys.ended_jobs, Keys.ended_comparisons)
    job_id = create(redis_server.url, PARAMS)
    # As an older release left an ended job: final status and end time, no ended-index entry.
    store.r.hset(Keys.job(job_id), mapping={"status": "succeeded", "finished_at": "2020-01-01T00:00:00.000Z"})
    store.r.zrem(Keys.jobs_by_status("queued"), job_id)
    store.r.zadd(Keys.jobs_by_status("succeeded"), {job_id: 1})
    assert store.r.zscore(Keys.ended_jobs, job_id) is None
    settings = Settings(redis_url=redis_server.url, data_dir=tmp_path, retention_days=30)
    assert job_id in expire_once(store, settings, LocalStore(tmp_path))
    assert not store.r.exists(Keys.job(job_id)) and store.r.get(Keys.ended_indexed) == "1"
    assert store.index_ended_before_retention() == 0  # once per Redis


def test_a_full_queue_of_real_task_messages_is_scanned_in_one_linear_pass(tmp_path):
    """Thousands of queued jobs with real Celery messages: only the one whose message was lost is re-sent
    (each job is looked up in a set of the messages' ids, not searched for in their text)."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        store, settings = JobStore.from_url(server.url), settings_for(server.url)
        ids = [create(server.url, PARAMS) for _ in range(2000)]
        celery = make_celery(settings)
        for job_id in ids:
            celery.send_task(TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)
        lost = json.loads(store.r.rpop(TRAIN_QUEUE))["headers"]["argsrepr"].strip("[]()',")
        store.r.zadd(Keys.jobs_by_status("queued"), dict.fromkeys(ids, 0))
        assert store.broker_messages(TRAIN_QUEUE, within_s=10) == set(ids) - {lost}
        sent: list[str] = []
        assert recover_once(store, settings, sent.append).resent == sent == [lost]
    finally:
        server.stop()


def test_a_long_jobs_history_and_events_stay_bounded_in_redis(redis_server):
    """Past HISTORY_MAXLEN epochs the stored history thins evenly (first and newest epochs kept, each value
    with its epoch); events keep about EVENTS_MAXLEN; a resumed attempt truncates by epoch."""
    store = JobStore.from_url(redis_server.url)
    job_id = create(redis_server.url, PARAMS | {"epochs": 3 * HISTORY_MAXLEN})
    assert store.start(job_id, "lease", "cpu", 1)
    total = 3 * HISTORY_MAXLEN
    for epoch in range(1, total + 1):
        assert store.record_epoch(job_id, "lease", epoch, total, 1.0 / epoch, 2.0 / epoch, 0.01) == 0
    assert store.r.llen(Keys.history(job_id)) <= HISTORY_MAXLEN
    assert store.r.xlen(Keys.events(job_id)) <= EVENTS_MAXLEN * 1.2
    assert store.r.memory_usage(Keys.history(job_id)) < 100 * HISTORY_MAXLEN  # bytes: not 3x the epochs
    history = store.get_job(job_id)["history"]
    epochs = history["epoch"]
    assert epochs[0] == 1 and epochs[-1] == total and epochs == sorted(set(epochs))
    assert history["test_loss"] == [2.0 / e for e in epochs]  # each value is its own epoch's
    store.truncate_history(job_id, 5000)
    kept = store.get_job(job_id)["history"]["epoch"]
    assert kept[-1] <= 5000 and kept == [e for e in epochs if e <= 5000]
