"""What every store script shares: its leading arguments (`header()`) and the Lua functions they use.

Every script gets the same eleven leading arguments: the prefixes of the status
indexes, job keys and comparison keys, how many events a job keeps, the
indexes of ended jobs and comparisons, the prefix of the datasets' user sets,
how many epochs a job's history keeps, the models quota's reservations (a
hash: queued or running job -> the bytes its model is estimated to take), the
quota accounts' totals, and the suffix of the id indexes (`Keys.by_id`). Its
own arguments follow (`arg(1)`, `arg(2)`, ...); its keys come in KEYS.
Nothing here spells a key or a limit itself.
"""

from __future__ import annotations

from rnncast.common.store.keys import EVENTS_MAXLEN, HISTORY_MAXLEN, Keys
from rnncast.common.store.label_lua import LABEL_LUA
from rnncast.common.store.webhook_lua import WEBHOOK_LUA


def header() -> list[str | int]:
    """The leading arguments of every script."""
    return [Keys.jobs_by_status(""), Keys.job(""), Keys.comparison(""), EVENTS_MAXLEN, Keys.ended_jobs,
            Keys.ended_comparisons, Keys.dataset_users(""), HISTORY_MAXLEN, Keys.model_reservations,
            Keys.quota_totals, Keys.by_id("")]


PRELUDE = """
local STATUS_INDEX, JOB_KEY, COMPARISON_KEY, MAXLEN = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ENDED_JOBS, ENDED_COMPARISONS, DATASET_USERS = ARGV[5], ARGV[6], ARGV[7]
local HISTORY_MAX = tonumber(ARGV[8])
local RESERVED, TOTALS, BY_ID = ARGV[9], ARGV[10], ARGV[11]
local HEAD = 11
local function arg(i) return ARGV[HEAD + i] end
local function rest(i) return unpack(ARGV, HEAD + i) end
local function add_event(key, kind, data)
  redis.call('XADD', key, 'MAXLEN', '~', MAXLEN, '*', 'type', kind, 'data', data)
end
""" + LABEL_LUA + """
-- A record enters (or leaves) a creation index and its id index (`Keys.by_id`) together (and leaves its
-- facets: `label_lua`).
local function index_add(index, score, id)
  redis.call('ZADD', index, score, id)
  redis.call('ZADD', index .. BY_ID, 0, id)
end
local function index_rem(index, id)
  redis.call('ZREM', index, id)
  redis.call('ZREM', index .. BY_ID, id)
  unlabel(index, id)
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
-- A quota account is a hash of id -> bytes. Its sum is kept in TOTALS: counted whole the first time it is
-- read (an account from before the totals), then changed with every entry by these two only.
local function account_set(account, id, bytes)
  local old = tonumber(redis.call('HGET', account, id) or 0)
  redis.call('HSET', account, id, bytes)
  if redis.call('HEXISTS', TOTALS, account) == 1 then
    redis.call('HINCRBYFLOAT', TOTALS, account, tonumber(bytes) - old)
  end
end
local function account_del(account, id)
  local old = redis.call('HGET', account, id)
  if not old then return end
  redis.call('HDEL', account, id)
  if redis.call('HEXISTS', TOTALS, account) == 1 then
    redis.call('HINCRBYFLOAT', TOTALS, account, -tonumber(old))
  end
end
local function total(account)
  local sum = redis.call('HGET', TOTALS, account)
  if sum then return tonumber(sum) end
  sum = 0
  for _, bytes in ipairs(redis.call('HVALS', account)) do sum = sum + tonumber(bytes) end
  redis.call('HSET', TOTALS, account, sum)
  return sum
end
""" + WEBHOOK_LUA + """
-- A job has ended. Its model's reservation goes (a model it saved is in the models' own
-- account by now). A lone job is indexed for retention by its end time, and its webhook
-- deliveries (job.<status>) are queued; a comparison's runs send none, the comparison one. True
-- when it was its comparison's last run: then the comparison ends too (and is
-- indexed for retention), failed if a run failed, else cancelled if one was,
-- else succeeded. Exactly one caller sees true, and writes the summary.
local function run_ended(job_key, finished_at)
  account_del(RESERVED, redis.call('HGET', job_key, 'id'))
  local cid = redis.call('HGET', job_key, 'comparison_id')
  if not cid or cid == '' then
    redis.call('ZADD', ENDED_JOBS, now_ms(), redis.call('HGET', job_key, 'id'))
    emit('job.' .. redis.call('HGET', job_key, 'status'), redis.call('HGET', job_key, 'id'))
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
  relabel_comparison(cid, key)
  redis.call('ZADD', ENDED_COMPARISONS, now_ms(), cid)
  emit('comparison.finished', cid)
  return true
end
-- Forget an ended job: its records, its reservation and every index entry (its dataset's users too).
local function forget_job(job_key, history_key, events_key, view_key, all_jobs)
  local id = redis.call('HGET', job_key, 'id')
  if id then
    index_rem(all_jobs, id)
    redis.call('ZREM', STATUS_INDEX .. redis.call('HGET', job_key, 'status'), id)
    redis.call('ZREM', ENDED_JOBS, id)
    account_del(RESERVED, id)
    local ok, params = pcall(cjson.decode, redis.call('HGET', job_key, 'params') or '')
    if ok and type(params) == 'table' and type(params['data']) == 'table' and params['data']['kind'] == 'dataset' then
      redis.call('SREM', DATASET_USERS .. tostring(params['data']['dataset_id']), id)
    end
  end
  redis.call('DEL', job_key, history_key, events_key, view_key)
end
"""
