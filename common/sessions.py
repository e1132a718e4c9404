"""Streaming sessions: their state in Redis and their messages on the forecast lane, shared by the API and
the predict workers.

A session is a forecast that goes on: it opens with a window and answers a forecast; each observe appends
values and answers the forecast from there, equal to the bit to a forecast with every value seen so far as
its `context`. The models here read a window of `sequence_length` values from a zero state (they were trained
so), so the state that makes the next forecast is the last values seen, as many as one forecast reads
(`Transform.context`: the window and, for a differenced model, `lag` more to difference from), not a hidden
state carried across points: a hidden state after point n is not a prefix of the window that ends at n + 1.

The state lives in Redis (`Keys.session`, a hash with a time to live), so any predict worker serves any
call; the API's admission of an observe reads it and sends it with the request (`ADMITTED`), so the worker
reads nothing before it computes. Its `observed` count is also its version: a worker saves a new
state only if the count is still the one it read (`SAVE_SESSIONS`), so of two observes that raced, the second
gets 409 and nothing of it is saved.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from rnncast.common.values import is_id

SESSION = "session"  # the lane message's field that makes it a session request: {"op", "id", ...}
ADMITTED = "admitted"  # the field the admission adds to an observe: [observed, state], the session as it read it
OPEN, OBSERVE = "open", "observe"


def gone_detail(session_id: str) -> str:
    """Why a session's request is a 404: the API's admission says it, or the worker when it went meanwhile."""
    return f"session {session_id!r} not found: it expired, was deleted, or never existed"


@dataclass(frozen=True, eq=False)
class SessionState:
    """What a session keeps: its model (id and checkpoint digest), default horizon and time to live, how many
    values it has seen, and the last of them, as many as one forecast reads (float64)."""

    model_id: str
    sha256: str
    horizon: int
    ttl_s: int
    observed: int
    window: np.ndarray

    def seen(self, values: list[float]) -> SessionState:
        """The state after `values`: counted, and the window moved on by as many (its length kept)."""
        window = np.concatenate((self.window, np.asarray(values, dtype=np.float64)))[-len(self.window) :]
        return SessionState(self.model_id, self.sha256, self.horizon, self.ttl_s, self.observed + len(values), window)

    def encode(self) -> str:
        # The window as its float64 bytes (base64): the next forecast reads exactly these values, and it costs a
        # third of what JSON's shortest reprs cost each way (a state is read and written once per observe).
        values = base64.b64encode(self.window.astype("<f8", copy=False).tobytes()).decode()
        return orjson.dumps({"model_id": self.model_id, "sha256": self.sha256, "horizon": self.horizon,
                             "ttl_s": self.ttl_s, "values": values}).decode()

    @classmethod
    def decode(cls, observed: str, raw: str) -> SessionState:
        """Raises ValueError (KeyError, TypeError) for a state that is not one. A state saved before windows went
        as bytes (a JSON list, `window`) reads too."""
        data: dict[str, Any] = orjson.loads(raw)
        if not is_id(data["model_id"]):
            raise ValueError("a session's model is not an id")
        if "values" in data:
            window = np.frombuffer(base64.b64decode(data["values"], validate=True), dtype="<f8")
        else:
            window = np.array([float(v) for v in data["window"]], dtype=np.float64)
        return cls(str(data["model_id"]), str(data["sha256"]), int(data["horizon"]), int(data["ttl_s"]),
                   int(observed), window)


# Save each session's new state if its `observed` count is still the one the caller read ('-': a new session,
# which must not exist yet), and (re)start its time to live, and only then push its answer onto the inbox of
# the API process that asked (its state and its answer, one step; each inbox's answers in one push); one script
# for a lane turn's sessions. Per session, 1: saved and answered, 0: it moved on (another observe was saved
# first), -1: it is gone (expired or deleted); for those two nothing is saved nor answered. The hash also names
# the session's model (`model`), for the admission to send its record with an observe. A session's small fields
# go as one argument (every argument costs the client a conversion).
# KEYS: the n sessions, then the inboxes
# ARGV: the inboxes' time to live (s), n, then per session: "inbox expected observed ttl_ms model" (inbox: its
# position among the inboxes, from 1), state, answer
SAVE_SESSIONS = """
local ttl, n = ARGV[1], tonumber(ARGV[2])
local out, pushes = {}, {}
for i = 1, n do
  local at = 3 * i
  local inbox, expected, observed, life, model = string.match(ARGV[at], '^(%d+) (%S+) (%S+) (%S+) (%S+)$')
  local key = KEYS[i]
  local cur = redis.call('HGET', key, 'observed')
  local result = 1
  if expected == '-' then
    if cur then result = 0 end
  elseif not cur then result = -1
  elseif cur ~= expected then result = 0 end
  if result == 1 then
    redis.call('HSET', key, 'observed', observed, 'state', ARGV[at + 1], 'model', model)
    redis.call('PEXPIRE', key, life)
    local box = KEYS[n + tonumber(inbox)]
    pushes[box] = pushes[box] or {}
    table.insert(pushes[box], ARGV[at + 2])
  end
  out[i] = result
end
for box, answers in pairs(pushes) do
  for j = 1, #answers, 1000 do
    redis.call('RPUSH', box, unpack(answers, j, math.min(j + 999, #answers)))
  end
  redis.call('EXPIRE', box, ttl)
end
return out
"""

# Sessions' `observed` and `state`, in one command for a lane turn's sessions (false where there is none).
# KEYS: sessions
LOAD_SESSIONS = """
local out = {}
for i, key in ipairs(KEYS) do
  local found = redis.call('HMGET', key, 'observed', 'state')
  out[2 * i - 1], out[2 * i] = found[1], found[2]
end
return out
"""
