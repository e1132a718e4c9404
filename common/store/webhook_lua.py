"""The Lua the store's scripts share to put webhook deliveries in the outbox (`PRELUDE` includes it, after
`now_ms`), so a job's end and its deliveries are written by the same script: one atomic step, or neither.

Nothing here spells a key or a limit itself: they come from `Keys`.
"""

from __future__ import annotations

import json

from rnncast.common.store.keys import WEBHOOK_DELIVERIES_KEPT, Keys


def _lua(text: str | int) -> str:
    return json.dumps(text)  # a JSON string or number of plain ASCII is a Lua literal too


_SUFFIX = Keys.webhook_deliveries("").removeprefix(Keys.webhook(""))  # after a subscription's key
WEBHOOK_LUA = f"""
local HOOKS, DUE = {_lua(Keys.webhooks)}, {_lua(Keys.deliveries_due)}
local HOOK_KEY, HOOKS_ON = {_lua(Keys.webhook(""))}, {_lua(Keys.webhooks_on(""))}
local DELIVERY_KEY, HOOK_DELIVERIES_SUFFIX = {_lua(Keys.delivery(""))}, {_lua(_SUFFIX)}
local DELIVERIES_KEPT = {_lua(WEBHOOK_DELIVERIES_KEPT)}
-- Queue one delivery of `event` about `subject` to subscription `hook`, due now, unless it is queued already;
-- `data` (JSON, or nil) is the event's data as it was when it happened, kept with the delivery.
local function add_delivery(hook, event, subject, did, data)
  local key = DELIVERY_KEY .. did
  if redis.call('EXISTS', key) == 1 then return end
  local t = now_ms()
  redis.call('HSET', key, 'id', did, 'webhook_id', hook, 'event', event, 'subject', subject, 'created_ms', t,
             'next_ms', t, 'attempts', 0, 'state', 'pending')
  if data then redis.call('HSET', key, 'data', data) end
  redis.call('ZADD', DUE, t, did)
  local index = HOOK_KEY .. hook .. HOOK_DELIVERIES_SUFFIX
  redis.call('ZADD', index, t, did)
  redis.call('ZREMRANGEBYRANK', index, 0, -(DELIVERIES_KEPT + 1))
end
-- `event` happened to `subject`: a delivery to each subscription to it. Its id is derived from the
-- subscription, the event and the subject, so it is the same however often this runs. `data`: as add_delivery's.
local function emit(event, subject, data)
  for _, hook in ipairs(redis.call('SMEMBERS', HOOKS_ON .. event)) do
    add_delivery(hook, event, subject, string.sub(redis.sha1hex(hook .. '/' .. event .. '/' .. subject), 1, 32),
                 data)
  end
end
"""
