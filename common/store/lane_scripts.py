"""The lanes' scripts: queueing requests within a lane's cap, and admitting forecasts in one step.

Nothing here spells a key or a limit itself.
"""

from __future__ import annotations

from rnncast.common.store.prelude import PRELUDE as _PRELUDE

# Lua: queue `items` on a lane without taking it past `cap`, and say which were queued (the first ones):
# one LPUSH, and in the rare case it went past the cap an LPOP of the excess (the newest, i.e. the last
# of `items`), so a lane with room costs no length read. With `expire` > 0, (re)set the lane's TTL.
_PUSH_WITHIN = """
local function push_within(lane, items, cap, expire)
  if #items == 0 then return 0 end
  local over = redis.call('LPUSH', lane, unpack(items)) - cap
  local n = #items
  if over > 0 then
    local drop = math.min(over, n)
    redis.call('LPOP', lane, drop)
    n = n - drop
  end
  if n > 0 and expire > 0 then redis.call('EXPIRE', lane, expire) end
  return n
end
"""

# Queue requests on a lane (LPUSH) unless it is full: how many were queued, the first
# ones, up to the cap (0: the lane is full). With an expiry, (re)set the lane's TTL.
# KEYS: the lane   ARGV: cap, expiry in seconds (0: leave it), the requests
PUSH_CAPPED = _PRELUDE + _PUSH_WITHIN + """
return push_within(KEYS[1], {unpack(ARGV, HEAD + 3)}, tonumber(arg(1)), tonumber(arg(2)))
"""

# Admit forecast requests in one step. A request naming a model goes with the model's record (after a
# newline), so the worker reads no record; one whose model has no record is not queued and is answered
# with its job's `fields` (nil each where there is no job: the API says 404, or 409 with the job's state).
# A request naming a session (an observe: common.sessions) goes with the session as it is now, its
# `observed` count and state added to the request as one more field (`admitted`: [observed, state], both
# strings), and with the record of the session's model (its hash's `model`; none for a hash without one: the
# worker reads it), so the worker reads neither; one whose session is gone (expired, deleted, never opened) is
# not queued and answered -1. A request naming neither goes as it is. The lane takes them up to its cap
# (push_within).
# Answers, per request: 1 queued, 0 the lane was full, -1 its session is gone (lane_ops.Admitted reads them), or
# the job's fields.
# KEYS: the lane
# ARGV: cap, expiry (0: leave it), model key prefix, session key prefix, the session's field name, n, the n job
# fields, then per request: model id, session id, request (a JSON object)
ADMIT_FORECASTS = _PRELUDE + _PUSH_WITHIN + """
local cap, expire, model_key, session_key = tonumber(arg(1)), tonumber(arg(2)), arg(3), arg(4)
local admitted, nfields = arg(5), tonumber(arg(6))
local fields = {unpack(ARGV, HEAD + 7, HEAD + 6 + nfields)}
local records, answers, items, at = {}, {}, {}, {}
for i = 7 + nfields, #ARGV - HEAD, 3 do
  local id, sid, request = arg(i), arg(i + 1), arg(i + 2)
  local record, gone = '', false
  if sid ~= '' then
    local found = redis.call('HMGET', session_key .. sid, 'observed', 'state', 'model')
    if found[1] and found[2] then
      request = string.sub(request, 1, -2) .. ',' .. cjson.encode(admitted) .. ':['
        .. cjson.encode(found[1]) .. ',' .. cjson.encode(found[2]) .. ']}'
      id = found[3] or ''
    else
      gone = true
    end
  end
  if gone then
    answers[#answers + 1] = -1
  else
    if id ~= '' then
      record = records[id]
      if record == nil then
        record = redis.call('GET', model_key .. id) or false
        records[id] = record
      end
      -- a session's model without a record: queued all the same (the worker answers for its model)
      if not record and sid ~= '' then record = '' end
    end
    if record then
      items[#items + 1] = record == '' and request or request .. '\\n' .. record
      answers[#answers + 1] = 1
      at[#items] = #answers
    else
      answers[#answers + 1] = nfields > 0 and redis.call('HMGET', JOB_KEY .. id, unpack(fields)) or {}
    end
  end
end
local queued = push_within(KEYS[1], items, cap, expire)
for j = queued + 1, #items do answers[at[j]] = 0 end
return answers
"""

LANE_SCRIPTS = {"push_capped": PUSH_CAPPED, "admit_forecasts": ADMIT_FORECASTS}
