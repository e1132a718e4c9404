"""The workers' side of the job store (blocking redis-py)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from common.comparisons import final_fields, run_row
from common.store.base import (
    HEARTBEAT,
    PREFIX,
    RECORD_EPOCH,
    RECOVER,
    REPLY_TTL_S,
    TRANSITION,
    JobStatus,
    Keys,
    finite,
    flatten,
    job_view,
    now_iso,
    status_event,
)


class JobStore:
    """Job records, leases, progress and models, as a worker sees them."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._transition = client.register_script(TRANSITION)
        self._record_epoch = client.register_script(RECORD_EPOCH)
        self._heartbeat = client.register_script(HEARTBEAT)
        self._recover = client.register_script(RECOVER)

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
            health_check_interval=30, retry_on_timeout=True,
        )
        return cls(client)

    def job_raw(self, job_id: str) -> dict[str, str] | None:
        raw = self.r.hgetall(Keys.job(job_id))
        return raw or None  # type: ignore[return-value]

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(Keys.job(job_id))
        pipe.lrange(Keys.history(job_id), 0, -1)
        raw, history = pipe.execute()
        return job_view(raw, history) if raw else None

    def transition(
        self, job_id: str, new: JobStatus, allowed: set[JobStatus], *, holder: str = "", **fields: Any
    ) -> int:
        """Move the job to `new` if its status is in `allowed` (and lease `holder` still holds).

        0: not moved; 1: moved; 2: moved, and it was its comparison's last run.
        """
        event = status_event(new.value, error=fields.get("error"), model_id=fields.get("model_id"))
        result = self._transition(
            keys=[Keys.job(job_id), Keys.events(job_id)],
            args=[new.value, ",".join(s.value for s in allowed), holder, event, PREFIX + "jobs:",
                  *flatten(fields)],
        )
        return max(0, int(result))

    def start(
        self, job_id: str, lease: str, device: str, attempts: int, started_at: str | None = None, **fields: Any
    ) -> int:
        """Claim a queued job for this worker under `lease`.

        Args:
            started_at: the first attempt's start, kept by later attempts (default: now).
        """
        return self.transition(
            job_id, JobStatus.RUNNING, {JobStatus.QUEUED},
            lease=lease, device=device, attempts=attempts,
            started_at=started_at or now_iso(), heartbeat_at=time.time(), **fields,
        )

    def record_epoch(
        self, job_id: str, lease: str, epoch: int, epochs: int, train_loss: float, test_loss: float
    ) -> int:
        """Append one epoch; 1 = cancel asked, 0 = go on, -1 = the job is no longer ours."""
        event = json.dumps(
            {"epoch": epoch, "epochs": epochs, "train_loss": finite(train_loss), "test_loss": finite(test_loss)}
        )
        fields = {"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss,
                  "heartbeat_at": time.time()}
        return int(self._record_epoch(
            keys=[Keys.job(job_id), Keys.history(job_id), Keys.events(job_id)],
            args=[lease, json.dumps([train_loss, test_loss]), event, *flatten(fields)],
        ))

    def truncate_history(self, job_id: str, epochs: int) -> None:
        """Keep the first `epochs` entries (none: an attempt that starts over)."""
        if epochs > 0:
            self.r.ltrim(Keys.history(job_id), 0, epochs - 1)
        else:
            self.r.delete(Keys.history(job_id))

    def heartbeat(self, job_id: str, lease: str) -> bool:
        return int(self._heartbeat(keys=[Keys.job(job_id)], args=[lease, time.time()])) == 1

    def finish(self, job_id: str, lease: str, status: JobStatus, **fields: Any) -> int:
        """End a running job we hold with a final status (see `transition`'s answer);
        if it was its comparison's last run, finalize the comparison too."""
        moved = self.transition(
            job_id, status, {JobStatus.RUNNING}, holder=lease, finished_at=now_iso(), **fields
        )
        if moved == 2:
            self.finalize_comparison(str(self.r.hget(Keys.job(job_id), "comparison_id") or ""))
        return moved

    def comparison(self, comparison_id: str) -> tuple[dict[str, str], list[dict[str, str]]] | None:
        """A comparison's hash and its runs' job hashes (with `history` lists attached)."""
        raw: dict[str, str] = self.r.hgetall(Keys.comparison(comparison_id))  # type: ignore[assignment]
        if not raw:
            return None
        job_ids = json.loads(raw["job_ids"])
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(Keys.job(job_id))
            pipe.lrange(Keys.history(job_id), 0, -1)
        rows = pipe.execute()
        jobs = []
        for job, history in zip(rows[::2], rows[1::2], strict=True):
            if job:
                jobs.append(job | {"history": history})
        return raw, jobs

    def finalize_comparison(self, comparison_id: str) -> None:
        """Write the final status and summary (once: only while it is still running)."""
        found = self.comparison(comparison_id)
        if found is None or found[0]["status"] != "running":
            return
        raw, jobs = found
        final: dict[Any, Any] = final_fields([run_row(j) for j in jobs], json.loads(raw["cells"]), now_iso())
        self.r.hset(Keys.comparison(comparison_id), mapping=final)

    def save_model(self, record: dict[str, Any], created_ms: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(Keys.model(record["id"]), json.dumps(record))
        pipe.zadd(Keys.models, {record["id"]: created_ms})
        pipe.execute()

    def existing_models(self, model_ids: list[str]) -> set[str]:
        """Which of `model_ids` still have a record."""
        pipe = self.r.pipeline(transaction=False)
        for model_id in model_ids:
            pipe.exists(Keys.model(model_id))
        return {m for m, n in zip(model_ids, pipe.execute(), strict=True) if n}

    def model_records(self, model_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of those of `model_ids` that exist (one round trip)."""
        raws = self.r.mget([Keys.model(m) for m in model_ids]) if model_ids else []
        return {m: json.loads(raw) for m, raw in zip(model_ids, raws, strict=True) if raw}

    def pop_forecasts(self, limit: int, block_s: float) -> list[str]:
        """Up to `limit` queued forecast requests, oldest first; waits up to `block_s` for the first."""
        first = self.r.brpop([Keys.forecasts], timeout=block_s)
        if first is None:
            return []
        return [str(first[1]), *self.more_forecasts(limit - 1)]

    def more_forecasts(self, limit: int) -> list[str]:
        """Up to `limit` more queued requests, without waiting."""
        more: list[str] | None = self.r.rpop(Keys.forecasts, limit) if limit > 0 else None  # type: ignore[assignment]
        return more or []

    def push_answers(self, by_inbox: dict[str, list[str]], ttl_s: int) -> None:
        """Deliver forecast answers to the inboxes of the API processes that asked."""
        pipe = self.r.pipeline(transaction=False)
        for inbox, answers in by_inbox.items():
            pipe.rpush(Keys.replies(inbox), *answers)
            pipe.expire(Keys.replies(inbox), ttl_s)
        pipe.execute()

    def push_reply(self, request_id: str, payload: dict[str, Any]) -> None:
        """Answer a request the API is waiting on (it expires if nobody reads it)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(Keys.reply(request_id), json.dumps(payload))
        pipe.expire(Keys.reply(request_id), REPLY_TTL_S)
        pipe.execute()

    def hand_back(self, job_id: str, lease: str) -> bool:
        """Return a running job we hold to the queue (its worker is shutting down)."""
        return self.transition(job_id, JobStatus.QUEUED, {JobStatus.RUNNING}, holder=lease,
                               lease="", handoff_requested="", requeued_at=now_iso()) > 0

    def request_handoff(self, worker: str) -> list[str]:
        """Ask every job that `worker` is running to stop at its next epoch and go back to the queue."""
        mine = [j for j, w in self._running_with("worker") if w == worker]
        for job_id in mine:
            self.r.hset(Keys.job(job_id), "handoff_requested", "1")
        return mine

    def stale_running(self, cutoff: float) -> list[str]:
        """Running jobs whose heartbeat is older than `cutoff` (unix time)."""
        return [j for j, beat in self._running_with("heartbeat_at") if float(beat or 0) < cutoff]

    def recover(self, job_id: str, cutoff: float, max_attempts: int, error: str) -> int:
        """Requeue (1) or fail (2, 3: and its comparison ended) a stale running job; 0 if not stale."""
        answer = int(self._recover(
            keys=[Keys.job(job_id), Keys.events(job_id)],
            args=[cutoff, max_attempts, PREFIX + "jobs:", now_iso(), status_event("queued"),
                  status_event("failed", error=error), error],
        ))
        if answer == 3:
            self.finalize_comparison(str(self.r.hget(Keys.job(job_id), "comparison_id") or ""))
        return answer

    def _running_with(self, field: str) -> list[tuple[str, Any]]:
        """(job id, value of `field`) for every running job, in one round trip after the index."""
        found: Any = self.r.zrange(Keys.jobs_by_status("running"), 0, -1)
        job_ids = [str(j) for j in found]
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(Keys.job(job_id), field)
        return list(zip(job_ids, pipe.execute(), strict=True))

    def queued_before(self, cutoff_ms: int) -> list[str]:
        """Queued jobs created before `cutoff_ms` (unix ms), oldest first."""
        found: Any = self.r.zrangebyscore(Keys.jobs_by_status("queued"), 0, cutoff_ms)
        return [str(j) for j in found]

    def broker_messages(self, queue: str, reserved_since: float) -> str:
        """Every message waiting in a Celery queue, or reserved by a worker since `reserved_since`, as one text.

        Kombu's Redis transport keeps a queue as a list named after it, reserved
        messages in the hash `unacked` and their reservation times in the sorted
        set `unacked_index`. A reservation older than that belongs to a worker
        that died before starting the job: its message counts as lost.
        """
        pipe = self.r.pipeline(transaction=False)
        pipe.lrange(queue, 0, -1)
        pipe.zrangebyscore("unacked_index", reserved_since, "+inf")
        waiting, fresh = pipe.execute()
        reserved: Any = self.r.hmget("unacked", fresh) if fresh else []
        return "\n".join([*waiting, *(m for m in reserved if m)])

    def register_worker(self, name: str) -> None:
        self.r.zadd(Keys.workers, {name: time.time()})

    def unregister_worker(self, name: str) -> None:
        self.r.zrem(Keys.workers, name)
