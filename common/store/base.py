"""Redis keys, job states, atomic scripts and the public JSON views.

Everything that knows a Redis key lives in `common.store`; the API uses the
async store, workers the sync one, both built on this module. Job records are
hashes (one field per fact, structured values as JSON), per-epoch history a
list, events a stream (replayable, so a late SSE client misses nothing).
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

PREFIX = "rnncast:"
ID_RE = re.compile(r"^[0-9a-f]{32}$")
EVENTS_MAXLEN = 20_000  # also written into the scripts below
IDEMPOTENCY_TTL_S = 24 * 3600
REPLY_TTL_S = 120


class JobStatus(StrEnum):
    """Where a job is in its life; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class Keys:
    """Every Redis key the project uses."""

    jobs = PREFIX + "jobs"
    comparisons = PREFIX + "comparisons"
    models = PREFIX + "models"
    workers = PREFIX + "workers"

    @staticmethod
    def job(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    @staticmethod
    def history(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}:history"

    @staticmethod
    def view(job_id: str) -> str:
        """A finished job's public JSON, rendered once (finished jobs never change)."""
        return f"{PREFIX}job:{job_id}:view"

    @staticmethod
    def events(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}:events"

    @staticmethod
    def jobs_by_status(status: str) -> str:
        return f"{PREFIX}jobs:{status}"

    @staticmethod
    def idempotency(scope: str, key: str) -> str:
        return f"{PREFIX}idem:{scope}:{key}"

    @staticmethod
    def model(model_id: str) -> str:
        return f"{PREFIX}model:{model_id}"

    @staticmethod
    def comparison(comparison_id: str) -> str:
        return f"{PREFIX}comparison:{comparison_id}"

    @staticmethod
    def reply(request_id: str) -> str:
        return f"{PREFIX}reply:{request_id}"

    # Forecasts: API processes push requests here, predict workers pop them in batches.
    forecasts = PREFIX + "forecasts"

    @staticmethod
    def replies(inbox: str) -> str:
        """One API process's inbox for forecast answers."""
        return f"{PREFIX}replies:{inbox}"


def now_iso() -> str:
    """Current time, ISO 8601 UTC with a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return int(time.time() * 1000)


def is_id(value: str) -> bool:
    return bool(ID_RE.match(value))


# Lua helper: a run of a comparison has ended; true when it was the last one,
# so exactly one caller (worker or API) finalizes the comparison.
_COMPARISON_DONE = """
local function COMPARISON_DONE(job_key)
  local cid = redis.call('HGET', job_key, 'comparison_id')
  if not cid or cid == '' then return false end
  return redis.call('HINCRBY', 'rnncast:comparison:' .. cid, 'remaining', -1) == 0
end
"""

# Create a job: idempotency check, queue cap, record, indexes, first event.
# KEYS: job, all-jobs, queued-jobs, idempotency, events
# ARGV: id, created_ms, fingerprint, use_idem, idem_ttl, max_queued, event, field/value pairs...
CREATE_JOB = """
if ARGV[4] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {'exists', existing} end
end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then return {'full', ''} end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
if ARGV[4] == '1' then
  redis.call('SET', KEYS[4], cjson.encode({id = ARGV[1], fingerprint = ARGV[3]}), 'EX', ARGV[5])
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', 20000, '*', 'type', 'status', 'data', ARGV[7])
return {'created', ARGV[1]}
"""

# Move a job to a new status if it is in one of the allowed ones (and, when a
# lease is given, still held by that lease); keep the status indexes in step.
# KEYS: job, events   ARGV: new, allowed csv, lease or '', event, prefix, field/value pairs...
TRANSITION = _COMPARISON_DONE + """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
local ok = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then ok = true end end
if not ok then return 0 end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'lease') ~= ARGV[3] then return 0 end
local id = redis.call('HGET', KEYS[1], 'id')
local created = redis.call('HGET', KEYS[1], 'created_ms')
redis.call('ZREM', ARGV[5] .. cur, id)
redis.call('ZADD', ARGV[5] .. ARGV[1], created, id)
redis.call('HSET', KEYS[1], 'status', ARGV[1], unpack(ARGV, 6))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 20000, '*', 'type', 'status', 'data', ARGV[4])
if ARGV[1] == 'succeeded' or ARGV[1] == 'failed' or ARGV[1] == 'cancelled' then
  if COMPARISON_DONE(KEYS[1]) then return 2 end
end
return 1
"""

# Record one finished epoch, if the caller still holds the job; answer whether
# a cancel was asked for (1), its worker is shutting down and must hand it back
# (2), all is well (0), or the job is no longer ours (-1).
# KEYS: job, history, events   ARGV: lease, history item, event, field/value pairs...
RECORD_EPOCH = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return -1 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 20000, '*', 'type', 'epoch', 'data', ARGV[3])
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return 1 end
if redis.call('HGET', KEYS[1], 'handoff_requested') == '1' then return 2 end
return 0
"""

# Refresh a heartbeat while the lease is ours; 1 = still ours, 0 = lost.
# KEYS: job   ARGV: lease, now
HEARTBEAT = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[2])
return 1
"""

# Recover a running job whose heartbeat is older than the cutoff: queue it again
# (1), or fail it once it has used its attempts (2; 3 if that also ended its
# comparison). 0: not stale, or no longer running. Atomic, so of several
# workers recovering at once exactly one acts on a job.
# KEYS: job, events   ARGV: cutoff, max attempts, prefix, now (ISO), requeue event, fail event, error
RECOVER = _COMPARISON_DONE + """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
local beat = tonumber(redis.call('HGET', KEYS[1], 'heartbeat_at')) or 0
if beat >= tonumber(ARGV[1]) then return 0 end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts')) or 0
local id = redis.call('HGET', KEYS[1], 'id')
local created = redis.call('HGET', KEYS[1], 'created_ms')
redis.call('ZREM', ARGV[3] .. 'running', id)
if attempts >= tonumber(ARGV[2]) then
  redis.call('ZADD', ARGV[3] .. 'failed', created, id)
  redis.call('HSET', KEYS[1], 'status', 'failed', 'lease', '', 'error', ARGV[7], 'finished_at', ARGV[4])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 20000, '*', 'type', 'status', 'data', ARGV[6])
  if COMPARISON_DONE(KEYS[1]) then return 3 end
  return 2
end
redis.call('ZADD', ARGV[3] .. 'queued', created, id)
redis.call('HSET', KEYS[1], 'status', 'queued', 'lease', '', 'requeued_at', ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 20000, '*', 'type', 'status', 'data', ARGV[5])
return 1
"""


def flatten(fields: dict[str, Any]) -> list[str]:
    """Hash field/value pairs; structured values as JSON, None as ''."""
    out: list[str] = []
    for key, value in fields.items():
        if value is None:
            text = ""
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value)
        out += [key, text]
    return out


def status_event(status: str, **extra: Any) -> str:
    return json.dumps({"status": status, **{k: v for k, v in extra.items() if v is not None}})


def dumps(value: Any) -> str:
    """Compact JSON, as Starlette's JSONResponse writes it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def finite(value: float | None) -> float | None:
    """A loss as JSON can carry it: NaN and infinities (a diverged run) become null."""
    return value if value is not None and math.isfinite(value) else None


def _num(raw: dict[str, str], key: str, kind: type = float) -> Any:
    value = raw.get(key, "")
    if value in ("", None):
        return None
    return finite(float(value)) if kind is float else kind(value)


def job_view(raw: dict[str, str], history: list[str]) -> dict[str, Any]:
    """The public JSON of a job from its hash and history list."""
    pairs = json.loads("[" + ",".join(history) + "]")  # one parse, not one per epoch
    return {
        "id": raw["id"],
        "kind": raw.get("kind", "train"),
        "name": raw.get("name") or None,
        "status": raw["status"],
        "params": json.loads(raw["params"]),
        "progress": {"epoch": _num(raw, "epoch", int) or 0, "epochs": _num(raw, "epochs", int)},
        "metrics": {"train_loss": _num(raw, "train_loss"), "test_loss": _num(raw, "test_loss")},
        "history": {"train_loss": [finite(p[0]) for p in pairs], "test_loss": [finite(p[1]) for p in pairs]},
        "model_id": raw.get("model_id") or None,
        "error": raw.get("error") or None,
        "attempts": _num(raw, "attempts", int) or 0,
        "resumed_from_epoch": _num(raw, "resumed_from_epoch", int),
        "device": raw.get("device") or None,
        "comparison_id": raw.get("comparison_id") or None,
        "cancel_requested": raw.get("cancel_requested") == "1",
        "created_at": raw["created_at"],
        "started_at": raw.get("started_at") or None,
        "finished_at": raw.get("finished_at") or None,
    }

# Cancel: a queued job ends at once; a running one is asked to stop (its
# worker sees the flag within one epoch); a finished one is left alone.
# KEYS: job, events   ARGV: prefix, finished_at, event
CANCEL = _COMPARISON_DONE + """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return 'missing' end
if cur == 'queued' then
  local id = redis.call('HGET', KEYS[1], 'id')
  local created = redis.call('HGET', KEYS[1], 'created_ms')
  redis.call('ZREM', ARGV[1] .. cur, id)
  redis.call('ZADD', ARGV[1] .. 'cancelled', created, id)
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[2], 'cancel_requested', '1')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 20000, '*', 'type', 'status', 'data', ARGV[3])
  if COMPARISON_DONE(KEYS[1]) then return 'cancelled:last' end
  return 'cancelled'
end
if cur == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  return 'requested'
end
return 'ended:' .. cur
"""
