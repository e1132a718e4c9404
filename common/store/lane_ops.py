"""Request queues between the API and the workers: forecasts (the lane) and figure replies."""

from __future__ import annotations

import json
import math
from typing import Any

from rnncast.common.store.keys import FIGURE_REPLY_TTL_S, Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.scripts import header

PUSH_CHUNK = 1000  # requests per script call (Lua's unpack has a stack limit)


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


def push_forecasts(requests: list[str], cap: int, expire_s: float | None = None) -> Op[int]:
    """Queue forecast requests for the predict workers, at most `cap` waiting (RNNCAST_MAX_QUEUED_FORECASTS);
    how many were queued. With `expire_s`, (re)set the queue's time to live too (a queue nobody
    consumes must not outlive its requests)."""
    return (yield from _push_capped(Keys.forecasts, requests, cap, expire_s))


def push_forecast(request: str, cap: int, expire_s: float | None = None) -> Op[int]:
    """Queue one forecast request (see push_forecasts)."""
    return (yield from push_forecasts([request], cap, expire_s))


def pop_forecasts(limit: int, block_s: float) -> Op[list[str]]:
    """Up to `limit` queued forecast requests, oldest first; waits up to `block_s` for the first."""
    first = yield from one(cmd("brpop", [Keys.forecasts], timeout=block_s), block_s=block_s)
    if first is None:
        return []
    return [str(first[1]), *(yield from more_forecasts(limit - 1))]


def more_forecasts(limit: int) -> Op[list[str]]:
    """Up to `limit` more queued requests, without waiting."""
    more = (yield from one(cmd("rpop", Keys.forecasts, limit))) if limit > 0 else None
    return [str(m) for m in more or []]


def push_answers(by_inbox: dict[str, list[str]], ttl_s: int) -> Op[None]:
    """Deliver forecast answers to the inboxes of the API processes that asked."""
    calls = [c for inbox, answers in by_inbox.items()
             for c in (cmd("rpush", Keys.replies(inbox), *answers), cmd("expire", Keys.replies(inbox), ttl_s))]
    if calls:
        yield batch(*calls)


def pop_answers(inbox: str, limit: int, block_s: float) -> Op[list[str]]:
    """Up to `limit` answers from an API process's inbox; waits up to `block_s` for the first."""
    key = Keys.replies(inbox)
    first = yield from one(cmd("blpop", [key], timeout=block_s), block_s=block_s)
    if first is None:
        return []
    more = (yield from one(cmd("lpop", key, limit - 1))) if limit > 1 else None
    return [first[1], *(more or [])]


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
