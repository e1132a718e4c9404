"""Workers' liveness, and finding jobs whose worker or task message was lost."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from rnncast.common.store.comparison_jobs import delete_comparison
from rnncast.common.store.job_ops import delete_job, summarize_comparison_of
from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.scripts import header
from rnncast.common.store.status import JobStatus
from rnncast.common.store.views import status_event
from rnncast.common.values import now_iso


def redis_time() -> Op[float]:
    """Seconds since the epoch by Redis's clock: the one clock every host compares heartbeats on."""
    seconds, micros = yield from one(cmd("time"))
    return int(seconds) + int(micros) / 1e6


def register_worker(name: str, info: dict[str, Any] | None = None) -> Op[None]:
    """A worker's heartbeat, with what it says of itself (`Keys.worker_info`)."""
    now = yield from redis_time()
    calls = [cmd("zadd", Keys.workers, {name: now})]
    if info is not None:
        calls.append(cmd("hset", Keys.worker_info, name, json.dumps(info)))
    yield batch(*calls)


def unregister_worker(name: str) -> Op[None]:
    yield batch(cmd("zrem", Keys.workers, name), cmd("hdel", Keys.worker_info, name))


def live_worker_info(within_s: float) -> Op[list[dict[str, Any]]]:
    """What each worker seen alive in the last `within_s` seconds said of itself, by name (a worker that
    said nothing: its name only)."""
    now = yield from redis_time()
    names = [str(n) for n in (yield from one(cmd("zrangebyscore", Keys.workers, now - within_s, "+inf")))]
    if not names:
        return []
    infos = yield from one(cmd("hmget", Keys.worker_info, names))
    return [{**(json.loads(raw) if raw else {}), "name": name} for name, raw in zip(names, infos, strict=True)]


def record_api_artifacts(url: str) -> Op[None]:
    """Say which artifact store the API processes use."""
    yield batch(cmd("set", Keys.api_artifacts, url))


def api_artifacts() -> Op[str | None]:
    """The artifact store the API processes said they use (None: no API has started on this Redis)."""
    found = yield from one(cmd("get", Keys.api_artifacts))
    return str(found) if found is not None else None


def worker_beat_age(name: str) -> Op[float | None]:
    """Seconds since the worker `name` (its Celery node name) last said it was alive, by Redis's clock;
    None if it never did or said goodbye."""
    now = yield from redis_time()
    beat = yield from one(cmd("zscore", Keys.workers, name))
    return None if beat is None else max(0.0, now - float(beat))


def live_workers(within_s: float) -> Op[int]:
    """Workers that said they were alive in the last `within_s` seconds."""
    now = yield from redis_time()
    return int((yield from one(cmd("zcount", Keys.workers, now - within_s, "+inf"))))


def beat_lanes(states: dict[str, bool], forget_s: float) -> Op[None]:
    """Record whether each of a process's lane threads is serving (by Redis's clock), and forget lanes
    that have not reported for `forget_s` seconds (their process is gone)."""
    now = yield from redis_time()
    known = yield from one(cmd("hgetall", Keys.lanes))
    gone = [name for name, value in known.items() if float(str(value).split(" ")[0]) < now - forget_s]
    calls = [cmd("hdel", Keys.lanes, *gone)] if gone else []
    if states:
        calls.append(cmd("hset", Keys.lanes, mapping={name: f"{now} {int(ok)}" for name, ok in states.items()}))
    if calls:
        yield batch(*calls)


def end_lanes(names: list[str]) -> Op[None]:
    """Forget a process's lanes (it stops serving them)."""
    if names:
        yield batch(cmd("hdel", Keys.lanes, *names))


def lane_report(within_s: float) -> Op[tuple[int, list[str]]]:
    """(lanes serving, names of lanes not serving) among the lanes that reported in the last `within_s`
    seconds (a silent lane's process is gone: the workers' count says so)."""
    now = yield from redis_time()
    known = yield from one(cmd("hgetall", Keys.lanes))
    fresh = {str(name): str(value).split(" ") for name, value in known.items()}
    fresh = {name: parts for name, parts in fresh.items() if float(parts[0]) >= now - within_s}
    down = sorted(name for name, parts in fresh.items() if parts[1] != "1")
    return len(fresh) - len(down), down


def queue_depth(queue: str) -> Op[int]:
    # Celery's Redis transport keeps each queue as a list named after it.
    return int((yield from one(cmd("llen", queue))))


def _running_with(field: str) -> Op[list[tuple[str, Any]]]:
    """(job id, value of `field`) for every running job."""
    job_ids = [str(j) for j in (yield from one(cmd("zrange", Keys.jobs_by_status(JobStatus.RUNNING.value), 0, -1)))]
    values = (yield batch(*(cmd("hget", Keys.job(job_id), field) for job_id in job_ids))) if job_ids else []
    return list(zip(job_ids, values, strict=True))


def request_handoff(worker: str) -> Op[list[str]]:
    """Ask every job that `worker` is running to stop at its next epoch and go back to the queue."""
    mine = [job_id for job_id, w in (yield from _running_with("worker")) if w == worker]
    if mine:
        yield batch(*(cmd("hset", Keys.job(job_id), "handoff_requested", "1") for job_id in mine))
    return mine


def stale_running(timeout: float) -> Op[list[str]]:
    """Running jobs whose heartbeat is older than `timeout` seconds."""
    cutoff = (yield from redis_time()) - timeout
    return [job_id for job_id, beat in (yield from _running_with("heartbeat_at")) if float(beat or 0) < cutoff]


def recover(job_id: str, timeout: float, max_attempts: int, error: str) -> Op[int]:
    """End a stale running job cancelled if that was asked (4; 5: and its comparison ended),
    else requeue (1) or fail it (2; 3: and its comparison ended); 0 if not stale."""
    answer = int((yield from one(script("recover", [Keys.job(job_id), Keys.events(job_id)], [
        *header(), timeout, max_attempts, now_iso(), status_event("queued"), status_event("failed", error=error),
        error, status_event("cancelled"),
    ]))))
    if answer in (3, 5):
        yield from summarize_comparison_of(job_id)
    return answer


def queued_before(age_s: float) -> Op[list[str]]:
    """Queued jobs created more than `age_s` seconds ago, oldest first."""
    cutoff_ms = int(((yield from redis_time()) - age_s) * 1000)
    found = yield from one(cmd("zrangebyscore", Keys.jobs_by_status(JobStatus.QUEUED.value), 0, cutoff_ms))
    return [str(j) for j in found]


JOB_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")  # an id alone, not part of a longer hex run


def broker_messages(queue: str, within_s: float) -> Op[set[str]]:
    """The job ids of every message waiting in a Celery queue, or reserved by a worker in the last
    `within_s` seconds (a set: the recovery pass looks each queued job up in it).

    Kombu's Redis transport keeps a queue as a list named after it, reserved
    messages in the hash `unacked` and their reservation times in the sorted
    set `unacked_index`. A reservation older than that belongs to a worker
    that died before starting the job: its message counts as lost. A train
    task's message names its job id in its headers (`argsrepr`).
    """
    reserved_since = (yield from redis_time()) - within_s
    waiting, fresh = yield batch(cmd("lrange", queue, 0, -1),
                                 cmd("zrangebyscore", "unacked_index", reserved_since, "+inf"))
    reserved = (yield from one(cmd("hmget", "unacked", fresh))) if fresh else []
    return {job_id for message in [*waiting, *(m for m in reserved if m)] for job_id in JOB_ID.findall(message)}


def sweep_expired(retention_s: float, limit: int) -> Op[list[str]]:
    """Delete up to `limit` jobs and comparisons that ended more than `retention_s` ago (models stay).

    Returns the ids of the jobs deleted (a comparison's runs among them), whose files may go too.
    """
    cutoff_ms = int(((yield from redis_time()) - retention_s) * 1000)
    jobs, comparisons = yield batch(
        cmd("zrangebyscore", Keys.ended_jobs, 0, cutoff_ms, start=0, num=limit),
        cmd("zrangebyscore", Keys.ended_comparisons, 0, cutoff_ms, start=0, num=limit),
    )
    deleted: list[str] = []
    for job_id in jobs:
        outcome = yield from delete_job(job_id)
        if outcome == "deleted":
            deleted.append(job_id)
        elif outcome == "missing":
            yield batch(cmd("zrem", Keys.ended_jobs, job_id))
    for comparison_id in comparisons:
        outcome, job_ids = yield from delete_comparison(comparison_id)
        if outcome == "deleted":
            deleted += job_ids
        elif outcome == "missing":
            yield batch(cmd("zrem", Keys.ended_comparisons, comparison_id))
    return deleted


def _ms(iso: str | None) -> int:
    """An ISO 8601 time (as the store writes it) as unix ms; 0 if there is none."""
    if not iso:
        return 0
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def index_ended_before_retention() -> Op[int]:
    """Put jobs and comparisons that ended before retention existed into the ended indexes
    (by their `finished_at`), once per Redis; how many were added."""
    if (yield from one(cmd("exists", Keys.ended_indexed))):
        return 0
    finals = [s.value for s in JobStatus if s.final]
    found = yield batch(*(cmd("zrange", Keys.jobs_by_status(status), 0, -1) for status in finals),
                        cmd("zrange", Keys.comparisons, 0, -1))
    job_ids = [str(j) for ids in found[:-1] for j in ids]
    comparison_ids = [str(c) for c in found[-1]]
    reads = [cmd("hmget", Keys.job(j), ["finished_at", "comparison_id"]) for j in job_ids]
    reads += [cmd("hmget", Keys.comparison(c), ["status", "finished_at"]) for c in comparison_ids]
    rows = (yield batch(*reads)) if reads else []
    jobs, studies = rows[:len(job_ids)], rows[len(job_ids):]
    lone = {j: _ms(finished) for j, (finished, cid) in zip(job_ids, jobs, strict=True) if not cid}
    ended = {c: _ms(finished) for c, (status, finished) in zip(comparison_ids, studies, strict=True)
             if status and status != "running"}
    calls = ([cmd("zadd", Keys.ended_jobs, lone, nx=True)] if lone else []) + (
        [cmd("zadd", Keys.ended_comparisons, ended, nx=True)] if ended else [])
    added = sum((yield batch(*calls))) if calls else 0
    yield batch(cmd("set", Keys.ended_indexed, "1"))
    return int(added)
