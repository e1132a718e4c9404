"""The store's atomic operations, as Lua scripts run inside Redis.

Every script gets the same eight leading arguments (`header()`): the prefixes
of the status indexes, job keys and comparison keys, how many events a job
keeps, the indexes of ended jobs and comparisons, the prefix of the
datasets' user sets, and how many epochs a job's history keeps. Its own arguments
follow (`arg(1)`, `arg(2)`, ...); its keys come in KEYS. Nothing here spells
a key or a limit itself.
"""

from __future__ import annotations

from rnncast.common.store.keys import EVENTS_MAXLEN, HISTORY_MAXLEN, Keys


def header() -> list[str | int]:
    """The leading arguments of every script."""
    return [Keys.jobs_by_status(""), Keys.job(""), Keys.comparison(""), EVENTS_MAXLEN, Keys.ended_jobs,
            Keys.ended_comparisons, Keys.dataset_users(""), HISTORY_MAXLEN]


_PRELUDE = """
local STATUS_INDEX, JOB_KEY, COMPARISON_KEY, MAXLEN = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ENDED_JOBS, ENDED_COMPARISONS, DATASET_USERS = ARGV[5], ARGV[6], ARGV[7]
local HISTORY_MAX = tonumber(ARGV[8])
local function arg(i) return ARGV[8 + i] end
local function rest(i) return unpack(ARGV, 8 + i) end
local function add_event(key, kind, data)
  redis.call('XADD', key, 'MAXLEN', '~', MAXLEN, '*', 'type', kind, 'data', data)
end
-- Keep the per-status indexes in step with a job's status.
local function reindex(job_key, from, to)
  local id = redis.call('HGET', job_key, 'id')
  local created = redis.call('HGET', job_key, 'created_ms')
  redis.call('ZREM', STATUS_INDEX .. from, id)
  redis.call('ZADD', STATUS_INDEX .. to, created, id)
end
-- Seconds since the epoch by Redis's clock: the one clock every host's heartbeats compare on.
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function now_ms() return math.floor(now() * 1000) end
local function is_final(status)
  return status == 'succeeded' or status == 'failed' or status == 'cancelled'
end
-- A job has ended. A lone job is indexed for retention by its end time. True
-- when it was its comparison's last run: then the comparison ends too (and is
-- indexed for retention), failed if a run failed, else cancelled if one was,
-- else succeeded. Exactly one caller sees true, and writes the summary.
local function run_ended(job_key, finished_at)
  local cid = redis.call('HGET', job_key, 'comparison_id')
  if not cid or cid == '' then
    redis.call('ZADD', ENDED_JOBS, now_ms(), redis.call('HGET', job_key, 'id'))
    return false
  end
  local key = COMPARISON_KEY .. cid
  if redis.call('HINCRBY', key, 'remaining', -1) ~= 0 then return false end
  local final = 'succeeded'
  for _, id in ipairs(cjson.decode(redis.call('HGET', key, 'job_ids'))) do
    local status = redis.call('HGET', JOB_KEY .. id, 'status')
    if status == 'failed' then final = 'failed'
    elseif status == 'cancelled' and final ~= 'failed' then final = 'cancelled' end
  end
  redis.call('HSET', key, 'status', final, 'finished_at', finished_at)
  redis.call('ZADD', ENDED_COMPARISONS, now_ms(), cid)
  return true
end
-- Forget an ended job: its records and every index entry (its dataset's users too).
local function forget_job(job_key, history_key, events_key, view_key, all_jobs)
  local id = redis.call('HGET', job_key, 'id')
  if id then
    redis.call('ZREM', all_jobs, id)
    redis.call('ZREM', STATUS_INDEX .. redis.call('HGET', job_key, 'status'), id)
    redis.call('ZREM', ENDED_JOBS, id)
    local ok, params = pcall(cjson.decode, redis.call('HGET', job_key, 'params') or '')
    if ok and type(params) == 'table' and type(params['data']) == 'table' and params['data']['kind'] == 'dataset' then
      redis.call('SREM', DATASET_USERS .. tostring(params['data']['dataset_id']), id)
    end
  end
  redis.call('DEL', job_key, history_key, events_key, view_key)
end
"""

# Queue n new jobs at once (a single job, or a comparison's runs with the
# comparison record): idempotency check, queue cap, records, indexes, first
# events. `created_ms` (Redis's clock) orders the indexes. Jobs that train on
# a dataset need its record to exist, and join its users (whom deleting it checks).
# KEYS: idempotency, all jobs, comparison, comparisons index, dataset record, dataset users,
#       then per job: job, events
# ARGV: use idempotency ('1'/'0'), its ttl, its record, max queued, queued event,
#       comparison fields (JSON array, '' for none), the id to answer, uses a dataset ('1'/'0'),
#       then per job: id, fields (JSON array)
CREATE_JOBS = _PRELUDE + """
if arg(1) == '1' then
  local existing = redis.call('GET', KEYS[1])
  if existing then return {'exists', existing} end
end
local n = (#KEYS - 6) / 2
if redis.call('ZCARD', STATUS_INDEX .. 'queued') + n > tonumber(arg(4)) then return {'full', ''} end
if arg(8) == '1' and redis.call('EXISTS', KEYS[5]) == 0 then return {'no_dataset', ''} end
local created = now_ms()
for i = 1, n do
  local id = arg(7 + 2 * i)
  redis.call('HSET', KEYS[5 + 2 * i], unpack(cjson.decode(arg(8 + 2 * i))))
  redis.call('HSET', KEYS[5 + 2 * i], 'created_ms', created)
  redis.call('ZADD', KEYS[2], created, id)
  redis.call('ZADD', STATUS_INDEX .. 'queued', created, id)
  add_event(KEYS[6 + 2 * i], 'status', arg(5))
  if arg(8) == '1' then redis.call('SADD', KEYS[6], id) end
end
if arg(6) ~= '' then
  redis.call('HSET', KEYS[3], unpack(cjson.decode(arg(6))))
  redis.call('HSET', KEYS[3], 'created_ms', created)
  redis.call('ZADD', KEYS[4], created, arg(7))
end
if arg(1) == '1' then redis.call('SET', KEYS[1], arg(3), 'EX', arg(2)) end
return {'created', arg(7)}
"""

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
  redis.call('ZADD', KEYS[4], now_ms(), arg(7))
  local checkpoint = cjson.decode(arg(6))['checkpoint']  -- its bytes count towards the model quota
  redis.call('HSET', KEYS[5], arg(7), type(checkpoint) == 'table' and tonumber(checkpoint['bytes']) or 0)
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

# Refresh a heartbeat while the lease is ours: 0 = lost, 1 = still ours,
# 2 = still ours and a cancel was asked for.
# KEYS: job   ARGV: lease
HEARTBEAT = _PRELUDE + """
if redis.call('HGET', KEYS[1], 'lease') ~= arg(1) then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'heartbeat_at', now())
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
redis.call('ZREM', KEYS[2], id)
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
redis.call('ZREM', KEYS[3], arg(1))
redis.call('HDEL', KEYS[4], arg(1))
return 'deleted'
"""

# Queue requests on a lane (LPUSH) unless it is full: how many were queued, the first
# ones, up to the cap (0: the lane is full). With an expiry, (re)set the lane's TTL.
# KEYS: the lane   ARGV: cap, expiry in seconds (0: leave it), the requests
PUSH_CAPPED = _PRELUDE + """
local cap, expire = tonumber(arg(1)), tonumber(arg(2))
local n = math.min(cap - redis.call('LLEN', KEYS[1]), #ARGV - 10)
if n <= 0 then return 0 end
redis.call('LPUSH', KEYS[1], unpack(ARGV, 11, 10 + n))
if expire > 0 then redis.call('EXPIRE', KEYS[1], expire) end
return n
"""

SCRIPTS = {
    "push_capped": PUSH_CAPPED, "create_jobs": CREATE_JOBS, "transition": TRANSITION, "record_epoch": RECORD_EPOCH,
    "heartbeat": HEARTBEAT, "recover": RECOVER, "cancel": CANCEL, "delete_job": DELETE_JOB,
    "delete_comparison": DELETE_COMPARISON, "delete_dataset": DELETE_DATASET,
}
