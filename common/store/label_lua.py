"""The Lua the store's scripts share to keep a record's labels indexed (`PRELUDE` includes it), so a record,
its name and tags, and the indexes that filter lists are written by the same script: one atomic step.

A record in a creation index (`Keys.jobs`, `models`, `comparisons`, `searches`, `datasets`) has facets, each
"kind=value": `name=<its name>`, `tag=<each tag>`, `cell=<its cell or each of a comparison's cells>`,
`dataset=<the dataset it trains on>`, and (not jobs: their status has its own indexes) `status=<status>`.
Each facet is a sorted set beside the index (`Keys.facet`), scored as the index scores the record, so a
filtered list is the facets' intersection in the index's order; the record's facets are kept
(`Keys.labels`) so that the script that removes it from its index (`index_rem`) removes it from them too.
Nothing here spells a key itself: they come from `Keys`.
"""

from __future__ import annotations

import json

from rnncast.common.store.keys import Keys


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string of plain ASCII is a Lua literal too


LABEL_LUA = f"""
local LABELS, FACET = {_lua(Keys.labels(""))}, {_lua(Keys.facet("", ""))}
local JOBS_INDEX, COMPARISONS_INDEX, SEARCHES_INDEX = {_lua(Keys.jobs)}, {_lua(Keys.comparisons)}, {_lua(Keys.searches)}
-- A record's facets from its (decoded) fields: name, tags, cell or cells, params' or train's dataset, status.
local function facets_of(r)
  local out, seen = {{}}, {{}}
  local function add(kind, value)
    if type(value) ~= 'string' or value == '' then return end
    local facet = kind .. '=' .. value
    if not seen[facet] then seen[facet] = true; out[#out + 1] = facet end
  end
  add('name', r.name)
  for _, list in ipairs({{{{'tag', r.tags}}, {{'cell', r.cells}}}}) do
    if type(list[2]) == 'table' then for _, v in ipairs(list[2]) do add(list[1], v) end end
  end
  add('cell', r.cell)
  for _, field in ipairs({{'params', 'train'}}) do  -- by name: a list holding a nil would end at it
    local holder = r[field]
    if type(holder) == 'table' then
      add('cell', holder.cell)
      if type(holder.data) == 'table' then add('dataset', holder.data.dataset_id) end
    end
  end
  add('status', r.status)
  return out
end
local function unlabel(index, id)
  local raw = redis.call('HGET', index .. LABELS, id)
  if not raw then return end
  for _, facet in ipairs(cjson.decode(raw)) do redis.call('ZREM', index .. FACET .. facet, id) end
  redis.call('HDEL', index .. LABELS, id)
end
-- Index a record under `facets` (its earlier facets go), scored as its index scores it; nothing if it is
-- not in the index.
local function label(index, id, facets)
  unlabel(index, id)
  local score = redis.call('ZSCORE', index, id)
  if not score or #facets == 0 then return end
  for _, facet in ipairs(facets) do redis.call('ZADD', index .. FACET .. facet, score, id) end
  redis.call('HSET', index .. LABELS, id, cjson.encode(facets))
end
local LABEL_FIELDS = {{'name', 'tags', 'params', 'cells', 'train', 'status'}}
-- A record kept as a hash (jobs, comparisons, searches).
local function label_hash(index, id, key)
  local values, r = redis.call('HMGET', key, unpack(LABEL_FIELDS)), {{}}
  for i, field in ipairs(LABEL_FIELDS) do
    local v = values[i]
    if v and v ~= '' then
      if field == 'name' or field == 'status' then r[field] = v
      else
        local ok, decoded = pcall(cjson.decode, v)
        if ok then r[field] = decoded end
      end
    end
  end
  if index == JOBS_INDEX then r.status = nil end
  label(index, id, facets_of(r))
end
-- A record kept as JSON (models, datasets).
local function label_json(index, id, raw)
  local ok, r = pcall(cjson.decode, raw)
  if ok and type(r) == 'table' then label(index, id, facets_of(r)) end
end
-- A comparison's (or search's) status changed: its facets follow.
local function relabel_comparison(id, key)
  for _, index in ipairs({{COMPARISONS_INDEX, SEARCHES_INDEX}}) do
    if redis.call('ZSCORE', index, id) then label_hash(index, id, key) end
  end
end
"""
