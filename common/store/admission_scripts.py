"""Admission: the scripts that create jobs and datasets, each checking and taking its quota in the same step.

A check that reads the usage and a write that follows can both be passed by
simultaneous requests; here the count, the bytes and the new records are one
Redis script, so no interleaving admits past a limit. A job's model is
counted from its admission: its estimated bytes are reserved (`RESERVED`,
see `prelude`) until it ends or is deleted. An account that lacks entries
(records saved before the account existed) is answered 'unaccounted': the
caller fills it in (`ACCOUNT`) and asks again. Every change to an account goes
through `account_set`/`account_del` (`prelude`), which keep its total, so
admission reads one number, not the whole account.
"""

from __future__ import annotations

from rnncast.common.store.prelude import PRELUDE

# Queue n new jobs at once (a single job, or a comparison's runs with the
# comparison record): idempotency check, queue cap, models quota, records,
# reservations, indexes, first events. `created_ms` (Redis's clock) orders the
# indexes. Jobs that train on a dataset need its record to exist, and join its
# users (whom deleting it checks). An Idempotency-Key names its job (or
# comparison) while that exists: once it is deleted, the key is free again.
# KEYS: idempotency, all jobs, comparison, comparisons index, dataset record, dataset users,
#       models index, models' bytes, then per job: job, events
# ARGV: use idempotency ('1'/'0'), its ttl, its record, max queued, queued event,
#       comparison fields (JSON array, '' for none), the id to answer, uses a dataset ('1'/'0'),
#       max models, max model bytes, check the account ('1'/'0'),
#       then per job: id, fields (JSON array), its model's estimated bytes
# Answers: {'created', id}, {'exists', idempotency record}, {'full'}, {'no_dataset'}, {'unaccounted'},
#          {'models', models kept, jobs queued or running}, {'model_bytes', bytes taken and reserved}
CREATE_JOBS = PRELUDE + """
if arg(1) == '1' then
  local existing = redis.call('GET', KEYS[1])
  if existing then
    local named = (arg(6) ~= '' and COMPARISON_KEY or JOB_KEY) .. cjson.decode(existing)['id']
    if redis.call('EXISTS', named) == 1 then return {'exists', existing} end
  end
end
local n = (#KEYS - 8) / 2
local queued = redis.call('ZCARD', STATUS_INDEX .. 'queued')
if queued + n > tonumber(arg(4)) then return {'full'} end
if arg(8) == '1' and redis.call('EXISTS', KEYS[5]) == 0 then return {'no_dataset'} end
local models = redis.call('ZCARD', KEYS[7])
if arg(11) == '1' and redis.call('HLEN', KEYS[8]) < models then return {'unaccounted'} end
local active = queued + redis.call('ZCARD', STATUS_INDEX .. 'running')
if models + active + n > tonumber(arg(9)) then return {'models', models, active} end
local used, asked = total(KEYS[8]) + total(RESERVED), 0
for i = 1, n do asked = asked + tonumber(arg(11 + 3 * i)) end
if used + asked > tonumber(arg(10)) then return {'model_bytes', used} end
local created = now_ms()
for i = 1, n do
  local id = arg(9 + 3 * i)
  redis.call('HSET', KEYS[7 + 2 * i], unpack(cjson.decode(arg(10 + 3 * i))))
  redis.call('HSET', KEYS[7 + 2 * i], 'created_ms', created)
  account_set(RESERVED, id, arg(11 + 3 * i))
  index_add(KEYS[2], created, id)
  label_hash(KEYS[2], id, KEYS[7 + 2 * i])
  redis.call('ZADD', STATUS_INDEX .. 'queued', created, id)
  add_event(KEYS[8 + 2 * i], 'status', arg(5))
  if arg(8) == '1' then redis.call('SADD', KEYS[6], id) end
end
if arg(6) ~= '' then
  redis.call('HSET', KEYS[3], unpack(cjson.decode(arg(6))))
  redis.call('HSET', KEYS[3], 'created_ms', created)
  index_add(KEYS[4], created, arg(7))
  label_hash(KEYS[4], arg(7), KEYS[3])
end
if arg(1) == '1' then redis.call('SET', KEYS[1], arg(3), 'EX', arg(2)) end
return {'created', arg(7)}
"""

# Store a dataset's record (its files are written first) within the datasets quota.
# KEYS: dataset record, datasets index, datasets' bytes
# ARGV: record JSON, id, its bytes, max datasets, max dataset bytes, check the account ('1'/'0')
# Answers: {'created'}, {'unaccounted'}, {'datasets', datasets kept}, {'dataset_bytes', bytes taken}
CREATE_DATASET = PRELUDE + """
local kept = redis.call('ZCARD', KEYS[2])
if arg(6) == '1' and redis.call('HLEN', KEYS[3]) < kept then return {'unaccounted'} end
if kept + 1 > tonumber(arg(4)) then return {'datasets', kept} end
local used = total(KEYS[3])
if used + tonumber(arg(3)) > tonumber(arg(5)) then return {'dataset_bytes', used} end
redis.call('SET', KEYS[1], arg(1))
index_add(KEYS[2], now_ms(), arg(2))
label_json(KEYS[2], arg(2), arg(1))
account_set(KEYS[3], arg(2), arg(3))
return {'created'}
"""

# Enter records an account lacks (saved before it existed), keeping its total.
# KEYS: the account   ARGV: id, bytes, id, bytes...
ACCOUNT = PRELUDE + """
for i = 1, #ARGV - HEAD, 2 do
  if redis.call('HEXISTS', KEYS[1], arg(i)) == 0 then account_set(KEYS[1], arg(i), arg(i + 1)) end
end
"""

# Release a job's reservation (a job that could not be enqueued).   KEYS: (none)   ARGV: job id
RELEASE = PRELUDE + """
account_del(RESERVED, arg(1))
"""

# Forget a model's record, index entry and bytes: 1, or 0 if there was none.
# KEYS: model record, models index, models' bytes   ARGV: model id
DELETE_MODEL = PRELUDE + """
local deleted = redis.call('DEL', KEYS[1])
index_rem(KEYS[2], arg(1))
account_del(KEYS[3], arg(1))
return deleted
"""
