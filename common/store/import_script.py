"""The script that saves an imported model's record within the models quota (`import_ops`)."""

from __future__ import annotations

from rnncast.common.store.prelude import PRELUDE

# Save an imported model's record (its files are written first) within the models quota: the models kept
# plus the jobs queued or running (each will make one), and the bytes they take and reserve.
# KEYS: model record, models index, models' bytes
# ARGV: record JSON, id, its bytes, max models, max model bytes, check the account ('1'/'0')
# Answers: {'created'}, {'exists'}, {'unaccounted'}, {'models', models kept, jobs queued or running},
#          {'model_bytes', bytes taken and reserved}
IMPORT_MODEL = PRELUDE + """
local models = redis.call('ZCARD', KEYS[2])
if arg(6) == '1' and redis.call('HLEN', KEYS[3]) < models then return {'unaccounted'} end
local active = redis.call('ZCARD', STATUS_INDEX .. 'queued') + redis.call('ZCARD', STATUS_INDEX .. 'running')
if models + active + 1 > tonumber(arg(4)) then return {'models', models, active} end
local used = total(KEYS[3]) + total(RESERVED)
if used + tonumber(arg(3)) > tonumber(arg(5)) then return {'model_bytes', used} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('SET', KEYS[1], arg(1))
index_add(KEYS[2], now_ms(), arg(2))
label_json(KEYS[2], arg(2), arg(1))  -- its facets (cell, name, tags), as a trained model's
account_set(KEYS[3], arg(2), arg(3))
return {'created'}
"""

