"""Operations on training jobs: create, read, list, move between states, progress, recovery."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from rnncast.common.store.admission import UNLIMITED, Idempotency, Quota, create_jobs
from rnncast.common.store.comparison_ops import write_summary
from rnncast.common.store.keys import Keys
from rnncast.common.store.label_ops import Count, page, unindex
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.scripts import header
from rnncast.common.store.status import FINAL, JobStatus
from rnncast.common.store.views import dumps, flatten, history_epoch, job_view, status_event
from rnncast.common.values import finite, now_iso


class Beat(IntEnum):
    """The heartbeat script's answer (falsy exactly when the lease is lost)."""

    LOST = 0
    HELD = 1
    CANCEL = 2  # held, and a cancel was asked


class EpochAnswer(IntEnum):
    """The record_epoch script's answer: what the worker does after the epoch it recorded."""

    GO_ON = 0
    CANCEL = 1
    HAND_BACK = 2
    LOST = -1  # the job is no longer ours: nothing was recorded


def job_fields(
    job_id: str, params: dict[str, Any], name: str | None, epochs: int, extra: dict[str, Any] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """The hash of a new queued job (`create_jobs` adds `created_ms` by Redis's clock)."""
    return {
        "id": job_id, "kind": "train", "name": name, "tags": tags or [], "status": JobStatus.QUEUED.value,
        "params": params, "epochs": epochs, "epoch": 0, "attempts": 0,
        "created_at": now_iso(), **(extra or {}),
    }


def create_job(
    params: dict[str, Any], *, job_id: str, name: str | None, epochs: int, max_queued: int, quota: Quota = UNLIMITED,
    idempotency_key: str | None = None, fingerprint: str = "", extra: dict[str, Any] | None = None,
    tags: list[str] | None = None,
) -> Op[tuple[str, bool]]:
    """Store a new queued job within the models `quota`; (job id, created?) as `create_jobs` answers."""
    fields = job_fields(job_id, params, name, epochs, extra, tags)
    idem = Idempotency("jobs", idempotency_key, fingerprint) if idempotency_key else None
    return (yield from create_jobs(job_id, [fields], max_queued=max_queued, quota=quota, idempotency=idem,
                                   dataset_id=dataset_of(params)))


def dataset_of(params: dict[str, Any]) -> str | None:
    """The dataset a job's params train on, if any."""
    data = params.get("data") or {}
    return data.get("dataset_id") if data.get("kind") == "dataset" else None


def forget_idempotency(scope: str, key: str | None, answer_id: str) -> Op[None]:
    """Drop an Idempotency-Key that points at `answer_id` (its request failed: a retry must act anew)."""
    if key is None:
        return
    stored = yield from one(cmd("get", Keys.idempotency(scope, key)))
    if stored and json.loads(stored)["id"] == answer_id:
        yield batch(cmd("delete", Keys.idempotency(scope, key)))


def discard_job(job_id: str, idempotency_key: str | None = None) -> Op[None]:
    """Forget a job that could not be enqueued (its indexes, reservation and Idempotency-Key too)."""
    calls = [cmd("zrem", Keys.jobs_by_status(status.value), job_id) for status in JobStatus]
    yield from one(script("release", [], [*header(), job_id]))
    yield from unindex(Keys.jobs, job_id)
    yield batch(*calls, cmd("delete", Keys.job(job_id), Keys.history(job_id), Keys.events(job_id), Keys.view(job_id)),
                atomic=True)
    yield from forget_idempotency("jobs", idempotency_key, job_id)


def delete_job(job_id: str) -> Op[str]:
    """Delete an ended job's records: 'deleted', 'missing', 'active:<status>' or 'comparison:<id>'."""
    keys = [Keys.job(job_id), Keys.history(job_id), Keys.events(job_id), Keys.view(job_id), Keys.jobs]
    return str((yield from one(script("delete_job", keys, header()))))


def job_raw(job_id: str) -> Op[dict[str, str] | None]:
    """A job's hash as stored, or None."""
    return (yield from one(cmd("hgetall", Keys.job(job_id)))) or None


def get_job(job_id: str) -> Op[dict[str, Any] | None]:
    """A job's public view, or None."""
    raw, history = yield batch(cmd("hgetall", Keys.job(job_id)), cmd("lrange", Keys.history(job_id), 0, -1))
    return job_view(raw, history) if raw else None


def job_json(job_id: str) -> Op[str | None]:
    """A job's public JSON; a finished job's is rendered once and then served as stored."""
    cached = yield from one(cmd("get", Keys.view(job_id)))
    if cached is not None:
        return str(cached)
    job = yield from get_job(job_id)
    if job is None:
        return None
    text = dumps(job)
    if job["status"] in FINAL:
        yield batch(cmd("set", Keys.view(job_id), text))
    return text


def list_jobs(
    status: JobStatus | None, limit: int, offset: int, facets: tuple[str, ...] = (), *, scan: int,
) -> Op[tuple[list[dict[str, Any]], Count]]:
    """Jobs newest first, optionally of one status and with every one of `facets` ("tag=prod", `label_lua`),
    and how many there are; rows carry no history."""
    within = Keys.jobs_by_status(status.value) if status else None
    ids, count = yield from page(Keys.jobs, list(facets), limit, offset, within, scan=scan)
    rows = (yield batch(*(cmd("hgetall", Keys.job(job_id)) for job_id in ids))) if ids else []
    return [job_view(raw, None) for raw in rows if raw], count


def counts_by_status() -> Op[dict[str, int]]:
    counts = yield batch(*(cmd("zcard", Keys.jobs_by_status(status.value)) for status in JobStatus))
    return {status.value: int(n) for status, n in zip(JobStatus, counts, strict=True)}


def summarize_comparison_of(job_id: str) -> Op[None]:
    """The run `job_id` was its comparison's last: write the comparison's summary."""
    comparison_id = yield from one(cmd("hget", Keys.job(job_id), "comparison_id"))
    if comparison_id:
        yield from write_summary(str(comparison_id))


def cancel_job(job_id: str) -> Op[str]:
    """'cancelled', 'requested', 'missing', or 'ended:<final status>'."""
    outcome = str((yield from one(script("cancel", [Keys.job(job_id), Keys.events(job_id)],
                                         [*header(), now_iso(), status_event(JobStatus.CANCELLED.value)]))))
    if outcome == "cancelled:last":
        yield from summarize_comparison_of(job_id)
        return "cancelled"
    return outcome


def transition(
    job_id: str, new: JobStatus, allowed: set[JobStatus], *, holder: str = "",
    model: dict[str, Any] | None = None, **fields: Any,
) -> Op[int]:
    """Move the job to `new` if its status is in `allowed` (and lease `holder` still holds).

    0: not moved; 1: moved; 2: moved, and it was its comparison's last run
    (whose summary this writes).

    Args:
        model: a model record, saved in the same atomic step as the move, or not at all.
    """
    event = status_event(new.value, error=fields.get("error"), model_id=fields.get("model_id"))
    model_id = model["id"] if model else "-"
    keys = [Keys.job(job_id), Keys.events(job_id), Keys.model(model_id), Keys.models, Keys.model_bytes]
    moved = int((yield from one(script("transition", keys, [
        *header(), new.value, ",".join(s.value for s in allowed), holder, event, now_iso(),
        json.dumps(model) if model else "", model_id, *flatten(fields),
    ]))))
    if moved == 2:
        yield from summarize_comparison_of(job_id)
    return max(0, moved)


def start(
    job_id: str, lease: str, device: str, attempts: int, started_at: str | None = None, **fields: Any
) -> Op[int]:
    """Claim a queued job for this worker under `lease`.

    Args:
        started_at: the first attempt's start, kept by later attempts (default: now).
    """
    return (yield from transition(
        job_id, JobStatus.RUNNING, {JobStatus.QUEUED}, lease=lease, device=device, attempts=attempts,
        started_at=started_at or now_iso(), **fields,
    ))


def finish(
    job_id: str, lease: str, status: JobStatus, model: dict[str, Any] | None = None, **fields: Any
) -> Op[int]:
    """End a running job we hold with a final status, saving its `model` record in the same step.

    See `transition`'s answer: 0 means the lease was lost and nothing was written. The model is named and
    tagged as its job is now (its labels are its own from then on).
    """
    if model is not None:
        name, tags = yield from one(cmd("hmget", Keys.job(job_id), ["name", "tags"]))
        model = model | {"name": name or None, "tags": json.loads(tags) if tags else []}
    return (yield from transition(job_id, status, {JobStatus.RUNNING}, holder=lease, model=model,
                                  finished_at=now_iso(), **fields))


def hand_back(job_id: str, lease: str) -> Op[bool]:
    """Return a running job we hold to the queue (its worker is shutting down)."""
    moved = yield from transition(job_id, JobStatus.QUEUED, {JobStatus.RUNNING}, holder=lease,
                                  lease="", handoff_requested="", requeued_at=now_iso())
    return moved > 0


def record_epoch(
    job_id: str, lease: str, epoch: int, epochs: int, train_loss: float, test_loss: float,
    lr: float | None = None, probe: float | None = None, **extra: Any,
) -> Op[EpochAnswer]:
    """Append one epoch (unless the job is no longer ours); what the worker does next.

    Args:
        lr: the epoch's learning rate (history and event carry it).
        probe: a comparison run's forecast MSE after this epoch, when it tracks one.
        extra: more fields of the job's hash to set in the same step.
    """
    # `at`: when the epoch ended, so a reader that joins mid-run (its replay arrives at once) can time the epochs.
    data: dict[str, Any] = {"epoch": epoch, "epochs": epochs, "train_loss": finite(train_loss),
                            "test_loss": finite(test_loss), "lr": lr, "at": now_iso()}
    # [train, test, lr, probe, epoch]: the epoch, since a long history is thinned (HISTORY_MAXLEN).
    item: list[Any] = [train_loss, test_loss, lr, probe, epoch]
    if probe is not None:
        data["forecast_mse"] = finite(probe)
    fields = {"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss, **extra}
    return EpochAnswer(int((yield from one(script(
        "record_epoch", [Keys.job(job_id), Keys.history(job_id), Keys.events(job_id)],
        [*header(), lease, json.dumps(item), json.dumps(data), *flatten(fields)],
    )))))


def truncate_history(job_id: str, epochs: int) -> Op[None]:
    """Keep the entries of the first `epochs` epochs (none: an attempt that starts over)."""
    if epochs <= 0:
        yield batch(cmd("delete", Keys.history(job_id)))
        return
    entries = yield from one(cmd("lrange", Keys.history(job_id), 0, -1))
    kept = sum(1 for i, entry in enumerate(entries) if history_epoch(json.loads(entry), i) <= epochs)
    yield batch(cmd("ltrim", Keys.history(job_id), 0, kept - 1) if kept else cmd("delete", Keys.history(job_id)))


def heartbeat(job_id: str, lease: str, **fields: Any) -> Op[Beat]:
    """Refresh the heartbeat of a job we hold (setting `fields` in the same step, only if we hold it), and say
    whether we still hold it (and whether to cancel)."""
    return Beat(int((yield from one(script("heartbeat", [Keys.job(job_id)], [*header(), lease, *flatten(fields)])))))


def read_events(job_id: str, after: str, block_ms: int) -> Op[list[tuple[str, dict[str, str]]]]:
    """Events after stream id `after`, waiting up to `block_ms` for one."""
    reply = yield from one(cmd("xread", {Keys.events(job_id): after}, block=block_ms, count=1000),
                           block_s=block_ms / 1000, stream=True)
    return [(entry_id, fields) for _, entries in reply or [] for entry_id, fields in entries]
