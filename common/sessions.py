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
state only if the count is still the one read with the request (`SAVE_SESSIONS`), so of two observes that
raced, one gets 409 and nothing of it is saved. An observe may state the count its values follow (`AFTER`):
it is then applied only at that count, and one found already applied (the count moved on by exactly its values,
which end the window) is answered from the state as it is, saving nothing new: a client resends it safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from rnncast.common.values import is_id

SESSION = "session"  # the lane message's field that makes it a session request: {"op", "id", ...}
ADMITTED = "admitted"  # the field the admission adds to an observe: [observed, state], the session as it read it
OPEN, OBSERVE = "open", "observe"
AFTER = "after"  # an observe's precondition, in its session field: the `observed` count its values follow
# A session's stream: a WebSocket whose messages are observes' bodies, each answered in order (service.session_stream)
STREAM_PATH = "/v1/sessions/{session_id}/stream"
# The codes it is closed with: the session is gone; idle (no message read: the client may open it again and send
# its next message); a message over RNNCAST_MAX_BODY_BYTES (the WebSocket's own code for it)
STREAM_GONE, STREAM_IDLE, STREAM_TOO_BIG = 4404, 4408, 1009


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

    def applied(self, after: int, values: list[float]) -> bool:
        """Whether this is the state `values`, observed after `after` values, made: its count moved on by as many,
        and its window ends with them (as far as it reaches). So an observe sent again after it was applied."""
        if self.observed != after + len(values):
            return False
        tail = min(len(values), len(self.window))
        kept = np.asarray(values[len(values) - tail :], dtype=np.float64)
        return bool(np.array_equal(self.window[len(self.window) - tail :], kept))

    def encode(self) -> str:
        # orjson writes the array's floats as their shortest round-trip reprs, in C: the next forecast reads
        # exactly these values (the format every version has read: a JSON list)
        return orjson.dumps({"model_id": self.model_id, "sha256": self.sha256, "horizon": self.horizon,
                             "ttl_s": self.ttl_s, "window": self.window}, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    @classmethod
    def decode(cls, observed: str, raw: str) -> SessionState:
        """Raises ValueError (KeyError, TypeError) for a state that is not one."""
        data: dict[str, Any] = orjson.loads(raw)
        window = np.asarray(data["window"], dtype=np.float64)
        if not is_id(data["model_id"]) or window.ndim != 1:
            raise ValueError("not a session's state")
        return cls(str(data["model_id"]), str(data["sha256"]), int(data["horizon"]), int(data["ttl_s"]),
                   int(observed), window)


# A lane turn's delivery when it answers sessions: save each session's new state if its `observed` count is
# still the one the caller read ('-': a new session, which must not exist yet), and (re)start its time to live;
# an observe that stated its count (`AFTER`, twin '1') also counts as saved where the session holds this very
# state already (its other send, read at the same count, was saved first: the same values after the same ones),
# and only then push its answer onto the inbox of the API process that asked (its state and its answer, one
# step), with the turn's other answers (each inbox's in one push): one command, so no pipeline (redis-py checks
# a pipeline's scripts with a round trip of its own). Per session, 1: saved and answered, 0: it moved on
# (another observe was saved first), -1: it is gone (expired or deleted); for those two nothing is saved nor
# answered. The hash also names the session's model (`model`), for the admission to send its record with an
# observe. A session's small fields go as one argument (every argument costs the client a conversion); they are
# all checked before anything is written.
# KEYS: the n sessions, then the inboxes
# ARGV: the inboxes' time to live (s), n, then per session: "inbox expected observed ttl_ms model twin" (inbox: its
# position among the inboxes, from 1), state, answer; then per inbox, in order: how many other answers, them
SAVE_SESSIONS = """
local ttl, n = ARGV[1], tonumber(ARGV[2])
local inboxes, heads = #KEYS - n, {}
for i = 1, n do
  local box, expected, observed, life, model, twin =
    string.match(ARGV[3 * i], '^(%d+) (%S+) (%S+) (%S+) (%S+) ([01])$')
  box = tonumber(box)
  if not box or box < 1 or box > inboxes then return redis.error_reply('malformed session save ' .. i) end
  heads[i] = {box, expected, observed, life, model, twin}
end
local out, pushes = {}, {}
for box = 1, inboxes do pushes[box] = {} end
for i = 1, n do
  local head, key = heads[i], KEYS[i]
  local cur = redis.call('HGET', key, 'observed')
  local result = 1
  if head[2] == '-' then
    if cur then result = 0 end
  elseif not cur then result = -1
  elseif cur ~= head[2] then
    result = 0
    if head[6] == '1' and cur == head[3] and redis.call('HGET', key, 'state') == ARGV[3 * i + 1] then result = 2 end
  end
  if result == 1 then
    redis.call('HSET', key, 'observed', head[3], 'state', ARGV[3 * i + 1], 'model', head[5])
  end
  if result >= 1 then
    redis.call('PEXPIRE', key, head[4])
    table.insert(pushes[head[1]], ARGV[3 * i + 2])
    result = 1
  end
  out[i] = result
end
local at = 3 * n + 3
for box = 1, inboxes do
  local count = tonumber(ARGV[at])
  for j = at + 1, at + count do table.insert(pushes[box], ARGV[j]) end
  at = at + count + 1
end
for box = 1, inboxes do
  local answers = pushes[box]
  if #answers > 0 then
    for j = 1, #answers, 1000 do
      redis.call('RPUSH', KEYS[n + box], unpack(answers, j, math.min(j + 999, #answers)))
    end
    redis.call('EXPIRE', KEYS[n + box], ttl)
  end
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
