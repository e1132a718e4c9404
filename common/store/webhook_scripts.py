"""The store's webhook scripts: subscriptions, test deliveries, and the sender's claim and answer (the
outbox itself is filled by `PRELUDE`'s `emit`, in the script that ends a job or a comparison)."""

from __future__ import annotations

from rnncast.common.store.prelude import PRELUDE

# Store a subscription unless there are `max` already: 1 stored, 0 refused.
# ARGV: id, max, url, secret, events JSON, created_at (ISO)
CREATE_WEBHOOK = PRELUDE + """
if redis.call('ZCARD', HOOKS) >= tonumber(arg(2)) then return 0 end
redis.call('HSET', HOOK_KEY .. arg(1), 'id', arg(1), 'url', arg(3), 'secret', arg(4), 'events', arg(5),
           'created_at', arg(6))
index_add(HOOKS, now_ms(), arg(1))
for _, event in ipairs(cjson.decode(arg(5))) do redis.call('SADD', HOOKS_ON .. event, arg(1)) end
return 1
"""

# Delete a subscription and its deliveries, pending ones too: 1 deleted, 0 missing.   ARGV: id
DELETE_WEBHOOK = PRELUDE + """
local key = HOOK_KEY .. arg(1)
local events = redis.call('HGET', key, 'events')
if not events then return 0 end
for _, event in ipairs(cjson.decode(events)) do redis.call('SREM', HOOKS_ON .. event, arg(1)) end
local index = key .. HOOK_DELIVERIES_SUFFIX
for _, did in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  redis.call('ZREM', DUE, did)
  redis.call('DEL', DELIVERY_KEY .. did)
end
redis.call('DEL', key, index)
index_rem(HOOKS, arg(1))
return 1
"""

# A test delivery to one subscription: 1 queued, 0 no such subscription.   ARGV: id, event, delivery id
TEST_WEBHOOK = PRELUDE + """
if redis.call('EXISTS', HOOK_KEY .. arg(1)) == 0 then return 0 end
add_delivery(arg(1), arg(2), arg(3), arg(3))
return 1
"""

# Claim up to `n` due deliveries under `lease` for `lease_ms`: each is due again when the lease ends (a sender
# that dies mid-delivery leaves it to the next), and its attempts count one more. The claimed ids.
# ARGV: lease, lease ms, n
CLAIM_DELIVERIES = PRELUDE + """
local t = now_ms()
local claimed = {}
for _, did in ipairs(redis.call('ZRANGEBYSCORE', DUE, '-inf', t, 'LIMIT', 0, tonumber(arg(3)))) do
  local key = DELIVERY_KEY .. did
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', DUE, did)
  else
    local until_ms = t + tonumber(arg(2))
    redis.call('ZADD', DUE, until_ms, did)
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'lease', arg(1), 'next_ms', until_ms)
    claimed[#claimed + 1] = did
  end
end
return claimed
"""

# A sender's outcome of one attempt, if its lease still holds (0: another sender has it now, nothing written).
# outcome: 'retry' (due again in `delay` ms), 'delivered' or 'failed' (out of the outbox, kept `keep` s).
# ARGV: delivery id, lease, outcome, HTTP status or '', error or '', delay ms, keep s
END_ATTEMPT = PRELUDE + """
local key = DELIVERY_KEY .. arg(1)
if redis.call('HGET', key, 'lease') ~= arg(2) then return 0 end
local t = now_ms()
redis.call('HSET', key, 'lease', '', 'last_status', arg(4), 'last_error', arg(5), 'last_attempt_ms', t)
if arg(3) == 'retry' then
  redis.call('ZADD', DUE, t + tonumber(arg(6)), arg(1))
  redis.call('HSET', key, 'next_ms', t + tonumber(arg(6)))
else
  redis.call('ZREM', DUE, arg(1))
  redis.call('HSET', key, 'state', arg(3), 'next_ms', '', 'ended_ms', t)
  redis.call('EXPIRE', key, tonumber(arg(7)))
end
return 1
"""

WEBHOOK_SCRIPTS = {
    "create_webhook": CREATE_WEBHOOK, "delete_webhook": DELETE_WEBHOOK, "test_webhook": TEST_WEBHOOK,
    "claim_deliveries": CLAIM_DELIVERIES, "end_attempt": END_ATTEMPT,
}
