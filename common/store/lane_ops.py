"""Request queues between the API and the workers: forecasts (the lane) and figure replies."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

from rnncast.common.sessions import ADMITTED
from rnncast.common.store.keys import FIGURE_REPLY_TTL_S, Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.scripts import header


class Admitted(enum.Enum):
    """What the admission did with a request whose model has a record (one without is answered by its job's
    fields instead): its value is the script's reply."""

    QUEUED = 1
    FULL = 0  # the lane already held its cap
    SESSION_GONE = -1  # an observe whose session is gone (expired, deleted, never opened)


PUSH_CHUNK = 1000  # requests per script call (Lua's unpack has a stack limit)
REDIS_MIN = (7, 0)  # the oldest Redis these pops run on (BLMPOP)


def _push_capped(lane: str, requests: list[str], cap: int, expire_s: float | None) -> Op[int]:
    """Queue `requests` on `lane` while it holds fewer than `cap`; how many (the first ones) were queued."""
    queued = 0
    for i in range(0, len(requests), PUSH_CHUNK):
        chunk = requests[i : i + PUSH_CHUNK]
        expire = math.ceil(expire_s) if expire_s is not None else 0
        n = int((yield from one(script("push_capped", [lane], [*header(), cap, expire, *chunk]))))
        queued += n
        if n < len(chunk):
            break
    return queued


def admit_forecasts(
    requests: list[tuple[str, str, str]], cap: int, expire_s: float | None, job_fields: tuple[str, ...],
) -> Op[list[Admitted | dict[str, str | None]]]:
    """Queue forecast requests, each `(model id, session id, request)` ('' for none), for the predict workers in
    one script call per chunk: each goes with its model's record, and an observe with its session (its
    `ADMITTED` field: common.sessions) and its model's record (the worker reads none), at most `cap` wait
    (RNNCAST_MAX_QUEUED_FORECASTS), and with `expire_s` the queue's time to live is (re)set (a queue nobody
    consumes must not outlive its requests). Per request: what was done with it (Admitted), or, when its model has
    no record, its job's `job_fields` (each None where there is no job)."""
    out: list[Admitted | dict[str, str | None]] = []
    expire = math.ceil(expire_s) if expire_s is not None else 0
    for i in range(0, len(requests), PUSH_CHUNK):
        flat = [part for triple in requests[i : i + PUSH_CHUNK] for part in triple]
        args = [*header(), cap, expire, Keys.model(""), Keys.session(""), ADMITTED, len(job_fields), *job_fields,
                *flat]
        answers = yield from one(script("admit_forecasts", [Keys.forecasts], args))
        out += [dict(zip(job_fields, a, strict=True)) if isinstance(a, list) else Admitted(a) for a in answers]
    return out


def pop_forecasts(limit: int, block_s: float) -> Op[list[str]]:
    """Up to `limit` queued forecast requests, oldest first, in one command; waits up to `block_s` for the first."""
    found = yield from one(cmd("blmpop", block_s, 1, Keys.forecasts, direction="RIGHT", count=limit), block_s=block_s)
    return [str(m) for m in found[1]] if found else []


def more_forecasts(limit: int) -> Op[list[str]]:
    """Up to `limit` more queued requests, without waiting."""
    more = (yield from one(cmd("rpop", Keys.forecasts, limit))) if limit > 0 else None
    return [str(m) for m in more or []]


def push_answers(by_inbox: dict[str, list[str]], ttl_s: int) -> Op[None]:
    """Deliver forecast answers to the inboxes of the API processes that asked (one round trip)."""
    calls = [c for inbox, answers in by_inbox.items()
             for c in (cmd("rpush", Keys.replies(inbox), *answers), cmd("expire", Keys.replies(inbox), ttl_s))]
    if calls:
        yield batch(*calls)


def pop_answers(inbox: str, limit: int, block_s: float) -> Op[list[str]]:
    """Up to `limit` answers from an API process's inbox, in one command; waits up to `block_s` for the first."""
    key = Keys.replies(inbox)
    found = yield from one(cmd("blmpop", block_s, 1, key, direction="LEFT", count=limit), block_s=block_s)
    return list(found[1]) if found else []


def push_figure(request: str, cap: int, expire_s: float) -> Op[bool]:
    """Queue one figure request unless `cap` wait already (RNNCAST_MAX_QUEUED_FIGURES); the queue
    expires when its newest request would have. Whether it was queued."""
    return bool((yield from _push_capped(Keys.figures, [request], cap, expire_s)))


def pop_figure(block_s: float) -> Op[str | None]:
    """The oldest queued figure request; waits up to `block_s` for one."""
    found = yield from one(cmd("brpop", [Keys.figures], timeout=block_s), block_s=block_s)
    return str(found[1]) if found else None


def push_reply(request_id: str, payload: dict[str, Any]) -> Op[None]:
    """Answer a figure request the API is waiting on (it expires if nobody reads it)."""
    yield batch(cmd("rpush", Keys.reply(request_id), json.dumps(payload)),
                cmd("expire", Keys.reply(request_id), FIGURE_REPLY_TTL_S), atomic=True)


def wait_reply(request_id: str, timeout: float) -> Op[dict[str, Any] | None]:
    """A worker's answer to figure request `request_id`, or None after `timeout` seconds."""
    reply = yield from one(cmd("blpop", [Keys.reply(request_id)], timeout=timeout), block_s=timeout)
    return json.loads(reply[1]) if reply else None
