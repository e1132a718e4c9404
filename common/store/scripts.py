"""The store's atomic operations on jobs after admission, as Lua scripts run inside Redis (the prelude
and the argument layout every script shares: `prelude`; admitting new jobs and datasets: `admission_scripts`).
Nothing here spells a key or a limit itself.
"""

from __future__ import annotations

from rnncast.common.sessions import LOAD_SESSIONS, SAVE_SESSIONS
from rnncast.common.store.admission_scripts import ACCOUNT, CREATE_DATASET, CREATE_JOBS, DELETE_MODEL, RELEASE
from rnncast.common.store.alias_scripts import ALIAS_SCRIPTS
from rnncast.common.store.import_script import IMPORT_MODEL
from rnncast.common.store.label_ops import LABEL_SCRIPTS
from rnncast.common.store.lane_scripts import LANE_SCRIPTS
from rnncast.common.store.prelude import PRELUDE as _PRELUDE
from rnncast.common.store.prelude import header
from rnncast.common.store.webhook_scripts import WEBHOOK_SCRIPTS

__all__ = ["SCRIPTS", "header"]

# Move a job to a new status if it is in one of the allowed ones (and, when a
# lease is given, still held by that lease). 0: not moved, 1: moved, 2: moved
# and that ended its comparison, -1: no such job. A job that starts running
# gets its first heartbeat; with a model record, the model is saved in the
# same step (a worker that lost its lease saves nothing).
# KEYS: job, events, model, models index
# ARGV: new, allowed csv, lease or '', event, now (ISO), model record JSON or '', model id,
#       field/value pairs...
TRANSITION = _PRELUDE + """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
local ok = false
for s in string.gmatch(arg(2), '[^,]+') do if s == cur then ok = true end end
if not ok then return 0 end
if arg(3) ~= '' and redis.call('HGET', KEYS[1], 'lease') ~= arg(3) then return 0 end
reindex(KEYS[1], cur, arg(1))
redis.call('HSET', KEYS[1], 'status', arg(1), rest(8))
if arg(1) == 'running' then redis.call('HSET', KEYS[1], 'heartbeat_at', now()) end
if arg(6) ~= '' then
  redis.call('SET', KEYS[3], arg(6))
  index_add(KEYS[4], now_ms(), arg(7))
  label_json(KEYS[4], arg(7), arg(6))
  local checkpoint = cjson.decode(arg(6))['checkpoint']  -- its bytes count towards the model quota
  account_set(KEYS[5], arg(7), type(checkpoint) == 'table' and tonumber(checkpoint['bytes']) or 0)
end
add_event(KEYS[2], 'status', arg(4))
if is_final(arg(1)) and run_ended(KEYS[1], arg(5)) then return 2 end
return 1
"""

# Record one finished epoch, if the caller still holds the job; answer whether
# a cancel was asked for (1), its worker is shutting down and must hand it back
# (2), all is well (0), or the job is no longer ours (-1).
# KEYS: job, history, events   ARGV: lease, history item, event, field/value pairs...
RECORD_EPOCH = _PRELUDE + """
if redis.call('HGET', KEYS[1], 'lease') ~= arg(1) then return -1 end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return -1 end
local n = redis.call('RPUSH', KEYS[2], arg(2))
if n > HISTORY_MAX then  -- thin evenly: every other entry but the newest goes
  local all = redis.call('LRANGE', KEYS[2], 0, -1)
  local kept = {}
  for i = 1, n - 1, 2 do kept[#kept + 1] = all[i] end
  kept[#kept + 1] = all[n]
  redis.call('DEL', KEYS[2])
  redis.call('RPUSH', KEYS[2], unpack(kept))
end
redis.call('HSET', KEYS[1], 'heartbeat_at', now(), rest(4))
add_event(KEYS[3], 'epoch', arg(3))
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return 1 end
if redis.call('HGET', KEYS[1], 'handoff_requested') == '1' then return 2 end
return 0
"""

# Refresh a heartbeat (and set the fields given) while the lease is ours: 0 = lost,
# 1 = still ours, 2 = still ours and a cancel was asked for.
# KEYS: job   ARGV: lease, field/value pairs...
HEARTBEAT = _PRELUDE + """
if redis.call('HGET', KEYS[1], 'lease') ~= arg(1) then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'heartbeat_at', now(), rest(2))
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return 2 end
return 1
"""

# Recover a running job whose heartbeat is older than `timeout` seconds (by
# Redis's clock): end it cancelled if a cancel was asked for (4; 5 if that
# ended its comparison), else queue it again (1), or fail it once it has used
# its attempts (2; 3 if that ended its comparison). 0: not stale, or no longer
# running. Atomic, so of several workers recovering at once exactly one acts.
# KEYS: job, events
# ARGV: timeout, max attempts, now (ISO), requeue event, fail event, error, cancelled event
RECOVER = _PRELUDE + """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
local beat = tonumber(redis.call('HGET', KEYS[1], 'heartbeat_at')) or 0
if beat >= now() - tonumber(arg(1)) then return 0 end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts')) or 0
local function finish(status, answer, event, error)
  reindex(KEYS[1], 'running', status)
  redis.call('HSET', KEYS[1], 'status', status, 'lease', '', 'handoff_requested', '', 'finished_at', arg(3),
             'error', error)
  add_event(KEYS[2], 'status', event)
  if run_ended(KEYS[1], arg(3)) then return answer + 1 end
  return answer
end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return finish('cancelled', 4, arg(7), '') end
if attempts >= tonumber(arg(2)) then return finish('failed', 2, arg(5), arg(6)) end
reindex(KEYS[1], 'running', 'queued')
redis.call('HSET', KEYS[1], 'status', 'queued', 'lease', '', 'handoff_requested', '', 'requeued_at', arg(3))
add_event(KEYS[2], 'status', arg(4))
return 1
"""

# Cancel: a queued job ends at once; a running one is asked to stop (its
# worker sees the flag within one epoch); a finished one is left alone.
# KEYS: job, events   ARGV: now (ISO), cancelled event
CANCEL = _PRELUDE + """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return 'missing' end
if cur == 'queued' then
  reindex(KEYS[1], 'queued', 'cancelled')
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', arg(1), 'cancel_requested', '1')
  add_event(KEYS[2], 'status', arg(2))
  if run_ended(KEYS[1], arg(1)) then return 'cancelled:last' end
  return 'cancelled'
end
if cur == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  return 'requested'
end
return 'ended:' .. cur
"""

# Delete an ended job. 'deleted', 'missing', 'active:<status>' (cancel it
# first), or 'comparison:<id>' (a comparison's run goes with its comparison).
# KEYS: job, history, events, view, all jobs   ARGV: (none)
DELETE_JOB = _PRELUDE + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if not is_final(status) then return 'active:' .. status end
local cid = redis.call('HGET', KEYS[1], 'comparison_id')
if cid and cid ~= '' then return 'comparison:' .. cid end
forget_job(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 'deleted'
"""

# Delete an ended comparison and its runs' jobs. 'deleted', 'missing' or 'active:running'.
# KEYS: comparison, comparisons index, all jobs, then per run: job, history, events, view
DELETE_COMPARISON = _PRELUDE + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if not is_final(status) then return 'active:' .. status end
for i = 4, #KEYS, 4 do forget_job(KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3], KEYS[3]) end
local id = redis.call('HGET', KEYS[1], 'id')
index_rem(KEYS[2], id)
redis.call('ZREM', ENDED_COMPARISONS, id)
redis.call('DEL', KEYS[1])
return 'deleted'
"""

# Delete a dataset unless a queued or running job trains on it: 'deleted',
# 'missing' or 'active:<job id>'. Users that ended (or are gone) leave the set.
# KEYS: dataset record, dataset users, datasets index   ARGV: dataset id
DELETE_DATASET = _PRELUDE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local status = redis.call('HGET', JOB_KEY .. id, 'status')
  if status == 'queued' or status == 'running' then return 'active:' .. id end
  redis.call('SREM', KEYS[2], id)
end
redis.call('DEL', KEYS[1], KEYS[2])
index_rem(KEYS[3], arg(1))
account_del(KEYS[4], arg(1))
return 'deleted'
"""

# Enter ids in their creation index's id index (`id_ops.index_existing`): those still in the index (one
# deleted since it was read stays out).   KEYS: the creation index   ARGV: ids...
INDEX_IDS = _PRELUDE + """
for i = 1, #ARGV - HEAD do
  if redis.call('ZSCORE', KEYS[1], arg(i)) then redis.call('ZADD', KEYS[1] .. BY_ID, 0, arg(i)) end
end
"""

# A model record replaced only if it is still the one read (compare and set: a model deleted or changed
# meanwhile is not written back). 1 if it was.
SET_MODEL_FIELD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

SCRIPTS = {
    **LANE_SCRIPTS, "create_jobs": CREATE_JOBS, "transition": TRANSITION, "record_epoch": RECORD_EPOCH,
    "heartbeat": HEARTBEAT, "recover": RECOVER, "cancel": CANCEL, "delete_job": DELETE_JOB,
    "delete_comparison": DELETE_COMPARISON, "delete_dataset": DELETE_DATASET, "create_dataset": CREATE_DATASET,
    "account": ACCOUNT, "release": RELEASE, "delete_model": DELETE_MODEL, "index_ids": INDEX_IDS,
    "set_model_field": SET_MODEL_FIELD, "save_sessions": SAVE_SESSIONS, "load_sessions": LOAD_SESSIONS,
    **WEBHOOK_SCRIPTS, **ALIAS_SCRIPTS, "import_model": IMPORT_MODEL, **LABEL_SCRIPTS,
}
