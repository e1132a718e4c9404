"""The store's alias scripts: moving an alias (and queueing its `alias.moved` deliveries in the same step),
deleting one, and the first step of deleting a model (refused while an alias points at it).

Nothing here spells a key or a limit itself: keys come in KEYS, prefixes and the history's length in ARGV.
"""

from __future__ import annotations

from rnncast.common.store.prelude import PRELUDE

# Move (or create) alias `name` onto `model`, if the model has a record and is not being deleted, and (unless
# `expected` is '*') the alias points at `expected` now ('': the alias does not exist). One step: the alias, the
# two models' alias sets, the history entry (JSON with the evidence given) and the webhook deliveries.
# Answers 'missing', 'deleting', 'stale:<current or empty>', 'unchanged' (it points there already) or
# 'moved:<seq>:<previous or empty>'.
# KEYS: alias, history, aliases index, model record, model's alias set, models being deleted, moves counter
# ARGV: name, model id, expected, evidence JSON, at (ISO), history kept, model key prefix, alias set suffix,
#       left-model mark suffix, grace ms
# An alias `name` leaves the model whose keys start `model`: out of its alias set, and the model is marked as
# just left for `grace_ms` (requests that resolved the alias to it may still be in flight).
_LEFT = """
local function left(model, name, set_suffix, mark_suffix, grace_ms)
  redis.call('SREM', model .. set_suffix, name)
  redis.call('SET', model .. mark_suffix, '1', 'PX', grace_ms)
end
"""

MOVE_ALIAS = PRELUDE + _LEFT + """
local name, model = arg(1), arg(2)
if redis.call('EXISTS', KEYS[4]) == 0 then return 'missing' end
if redis.call('SISMEMBER', KEYS[6], model) == 1 then return 'deleting' end
local current = redis.call('HGET', KEYS[1], 'model_id') or ''
if arg(3) ~= '*' and arg(3) ~= current then return 'stale:' .. current end
if current == model then return 'unchanged' end
local seq = redis.call('HINCRBY', KEYS[7], name, 1)
if current == '' then
  redis.call('HSET', KEYS[1], 'name', name, 'created_at', arg(5))
  redis.call('ZADD', KEYS[3], now_ms(), name)
else
  left(arg(7) .. current, name, arg(8), arg(9), arg(10))
end
redis.call('HSET', KEYS[1], 'model_id', model, 'moved_at', arg(5), 'seq', seq)
redis.call('SADD', KEYS[5], name)
local from = current == '' and 'null' or ('"' .. current .. '"')
local entry = '{"seq":' .. seq .. ',"from":' .. from .. ',"to":"' .. model .. '","at":"' .. arg(5) ..
              '","evidence":' .. arg(4) .. '}'
redis.call('RPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], -tonumber(arg(6)), -1)
-- The delivery keeps the move as it is now: the alias may be deleted, or move 100 times more, before it is sent.
emit('alias.moved', name .. '#' .. seq, '{"alias":"' .. name .. '",' .. string.sub(entry, 2))
return 'moved:' .. seq .. ':' .. current
"""

# Delete an alias and its history: the model it pointed at, or false if there was none.
# KEYS: alias, history, aliases index   ARGV: name, model key prefix, alias set suffix, mark suffix, grace ms
DELETE_ALIAS = PRELUDE + _LEFT + """
local model = redis.call('HGET', KEYS[1], 'model_id')
if not model then return false end
left(arg(2) .. model, arg(1), arg(3), arg(4), arg(5))
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], arg(1))
return model
"""

# Mark a model as being deleted unless an alias points at it ('aliased:<names, comma-separated>') or left it
# within its grace period ('left:<ms to go>'); 'held' when marked: no alias may move onto it from now on.
# KEYS: model's alias set, models being deleted, its left mark   ARGV: model id
HOLD_MODEL = PRELUDE + """
local names = redis.call('SMEMBERS', KEYS[1])
if #names > 0 then table.sort(names) return 'aliased:' .. table.concat(names, ',') end
local wait = redis.call('PTTL', KEYS[3])
if wait > 0 then return 'left:' .. wait end
redis.call('SADD', KEYS[2], arg(1))
return 'held'
"""

ALIAS_SCRIPTS = {"move_alias": MOVE_ALIAS, "delete_alias": DELETE_ALIAS, "hold_model": HOLD_MODEL}
