"""Request queues between the API and the workers: forecasts (the lane) and figure replies."""

from __future__ import annotations

import json
import math
from typing import Any

from rnncast.common.store.keys import FIGURE_REPLY_TTL_S, Keys
from rnncast.common.store.plan import Op, batch, cmd, one


def push_forecasts(requests: list[str], expire_s: float | None = None) -> Op[None]:
    """Queue forecast requests for the predict workers (one command for all); with `expire_s`,
    (re)set the queue's time to live too (a queue nobody consumes must not grow without bound)."""
    push = cmd("lpush", Keys.forecasts, *requests)
    yield batch(push) if expire_s is None else batch(push, cmd("expire", Keys.forecasts, math.ceil(expire_s)))


def push_forecast(request: str, expire_s: float | None = None) -> Op[None]:
    """Queue one forecast request (see push_forecasts)."""
    yield from push_forecasts([request], expire_s)


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


def push_figure(request: str, expire_s: float) -> Op[None]:
    """Queue one figure request; the queue expires when its newest request would have."""
    yield batch(cmd("lpush", Keys.figures, request), cmd("expire", Keys.figures, math.ceil(expire_s)))


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
