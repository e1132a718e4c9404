"""Names and tags: a record's labels changed (`relabel`), and a page of a creation index filtered by facets
(`page`). The facets themselves are kept by the scripts that create, change and remove records (`label_lua`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from rnncast.common.defaults import MAX_TAGS
from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.prelude import PRELUDE, header

# Set a hash record's name and/or tags (a job's rendered view goes: it renders again): 1, 0 if missing, -n if the
# tags added would make n, more than the most a record keeps (nothing changed).
# KEYS: record, its creation index, its rendered view (or a key that is none)
# ARGV: id, set the name ('1'/'0'), name, set the tags ('1'/'0'), tags (JSON array), tags to add, tags to take
#       off (JSON arrays: applied to the tags as they are in this step), the most tags a record keeps
RELABEL_HASH = PRELUDE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local tags = arg(5)
local add, remove = cjson.decode(arg(6)), cjson.decode(arg(7))
if #add > 0 or #remove > 0 then
  local cur = arg(4) == '1' and cjson.decode(tags) or cjson.decode(redis.call('HGET', KEYS[1], 'tags') or '[]')
  local off, seen, out = {}, {}, {}
  for _, t in ipairs(remove) do off[t] = true end
  for _, list in ipairs({cur, add}) do
    for _, t in ipairs(list) do
      if not off[t] and not seen[t] then seen[t] = true; out[#out + 1] = t end
    end
  end
  if #out > tonumber(arg(8)) then return -#out end
  tags = #out > 0 and cjson.encode(out) or '[]'
end
if arg(2) == '1' then redis.call('HSET', KEYS[1], 'name', arg(3)) end
if arg(4) == '1' or #add > 0 or #remove > 0 then redis.call('HSET', KEYS[1], 'tags', tags) end
redis.call('DEL', KEYS[3])
label_hash(KEYS[2], arg(1), KEYS[1])
return 1
"""

# Replace a JSON record if it is still the one read (compare and set), and index its facets anew:
# 1 replaced, 0 changed meanwhile, -1 missing.   KEYS: record, its creation index   ARGV: id, read, new
RELABEL_JSON = PRELUDE + """
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
if cur ~= arg(2) then return 0 end
redis.call('SET', KEYS[1], arg(3))
label_json(KEYS[2], arg(1), arg(3))
return 1
"""

# A page of the records in every one of several sorted sets (facets, a status index), newest first, how many
# there are, whether that count is exact, and whether the page stopped short at the budget. The cost is bounded
# by `budget` ids whatever the sets hold. When the smallest set has more, only its newest `budget` ids are read:
# copied to the scratch key, intersected there with the other sets (scored as before), paged, dropped, all in
# the same step, so the count is a lower bound and a short page is truncated. Else the page walks the smallest
# set newest first, keeping the ids every other set has, until the page is full (a broad filter stops early),
# and the count is ZINTERCARD's (Redis 7; before it, an intersection in the scratch key, dropped at once).
# KEYS: scratch, the sets...   ARGV: offset, limit, budget
FILTER_PAGE = PRELUDE + """
local offset, limit, budget = tonumber(arg(1)), tonumber(arg(2)), tonumber(arg(3))
local sets = {}
for i = 2, #KEYS do sets[#sets + 1] = {KEYS[i], redis.call('ZCARD', KEYS[i])} end
table.sort(sets, function(a, b) return a[2] < b[2] end)
if sets[1][2] > budget then
  redis.call('ZRANGESTORE', KEYS[1], sets[1][1], 0, budget - 1, 'REV')
  local args, weights = {KEYS[1], #sets, KEYS[1]}, {'WEIGHTS', 1}
  for i = 2, #sets do args[#args + 1] = sets[i][1]; weights[#weights + 1] = 0 end
  for _, w in ipairs(weights) do args[#args + 1] = w end
  local n = redis.call('ZINTERSTORE', unpack(args))
  local ids = redis.call('ZREVRANGE', KEYS[1], offset, offset + limit - 1)
  redis.call('DEL', KEYS[1])
  return {n, ids, 0, #ids < limit and 1 or 0}
end
local ok, n = pcall(redis.call, 'ZINTERCARD', #KEYS - 1, unpack(KEYS, 2))
if not ok then
  n = redis.call('ZINTERSTORE', KEYS[1], #KEYS - 1, unpack(KEYS, 2))
  redis.call('DEL', KEYS[1])
end
local ids, matched, pos = {}, 0, 0
while #ids < limit and matched < n do
  local chunk = redis.call('ZREVRANGE', sets[1][1], pos, pos + 499)
  if #chunk == 0 then break end
  pos = pos + #chunk
  for _, id in ipairs(chunk) do
    local all = true
    for j = 2, #sets do
      if not redis.call('ZSCORE', sets[j][1], id) then all = false; break end
    end
    if all then
      matched = matched + 1
      if matched > offset then ids[#ids + 1] = id end
      if #ids >= limit then break end
    end
  end
end
return {n, ids, 1, 0}
"""

# Take a record out of its creation index, its id index and its facets.   KEYS: the index   ARGV: id
UNINDEX = PRELUDE + """
index_rem(KEYS[1], arg(1))
"""

# Index the facets of records stored before facets existed (`label_existing`).
# KEYS: the creation index   ARGV: 'hash' or 'json', the records' key prefix, ids...
LABEL_IDS = PRELUDE + """
for i = 3, #ARGV - HEAD do
  local key = arg(2) .. arg(i)
  if arg(1) == 'hash' then label_hash(KEYS[1], arg(i), key)
  else
    local raw = redis.call('GET', key)
    if raw then label_json(KEYS[1], arg(i), raw) end
  end
end
"""

LABEL_SCRIPTS = {"relabel_hash": RELABEL_HASH, "relabel_json": RELABEL_JSON, "filter_page": FILTER_PAGE,
                 "unindex": UNINDEX, "label_ids": LABEL_IDS}
LABEL_CHUNK = 200  # records per script call: a script holds Redis for the whole of its call (about 0.4 ms a record)


class TooManyTags(Exception):
    """The tags added would make `count` tags on the record, more than MAX_TAGS (nothing was changed)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} tags with those added; a record keeps at most {MAX_TAGS}")


@dataclass(frozen=True)
class Patch:
    """A change of labels, as a JSON merge patch says it: a field left out stays (None here); `add` and `remove`
    change the tags as they are when the change is made (in the same step, so no concurrent change is lost)."""

    name: str | None = None
    clear_name: bool = False
    tags: list[str] | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """`record` with its name and tags changed; TooManyTags if the tags added would make too many."""
        out = dict(record)
        if self.clear_name or self.name is not None:
            out["name"] = None if self.clear_name else self.name
        if self.tags is not None:
            out["tags"] = self.tags
        if self.add or self.remove:
            off = set(self.remove)
            out["tags"] = [t for t in dict.fromkeys([*(out.get("tags") or []), *self.add]) if t not in off]
            if len(out["tags"]) > MAX_TAGS:
                raise TooManyTags(len(out["tags"]))
        return out


# Each labelled resource: its record's key, its creation index, and whether the record is a hash (else JSON).
RESOURCES = {
    "job": (Keys.job, Keys.jobs, True),
    "comparison": (Keys.comparison, Keys.comparisons, True),
    "search": (Keys.comparison, Keys.searches, True),
    "model": (Keys.model, Keys.models, False),
    "dataset": (Keys.dataset, Keys.datasets, False),
}


class Contended(Exception):
    """A JSON record changed between every read and write of a relabel's tries (nothing was changed)."""


def relabel(resource: str, record_id: str, patch: Patch, tries: int = 20) -> Op[bool]:
    """Change a record's name and/or tags, and its facets with them, atomically; False if there is none.
    TooManyTags (nothing changed) if the tags added would make too many; Contended (nothing changed) if a JSON
    record changed under every one of `tries` compare-and-sets."""
    key_of, index, is_hash = RESOURCES[resource]
    key = key_of(record_id)
    if is_hash:
        view = Keys.view(record_id) if resource == "job" else key + ":-"
        set_name = patch.clear_name or patch.name is not None
        done = int((yield from one(script("relabel_hash", [key, index, view], [
            *header(), record_id, "1" if set_name else "0", patch.name or "",
            "1" if patch.tags is not None else "0", json.dumps(patch.tags or []),
            json.dumps(list(patch.add)), json.dumps(list(patch.remove)), MAX_TAGS]))))
        if done < 0:
            raise TooManyTags(-done)
        return done > 0
    for _ in range(tries):
        raw = yield from one(cmd("get", key))
        if not raw:
            return False
        new = json.dumps(patch.apply(json.loads(raw)))
        # JSON is decoded here, not in Lua: its numbers keep every digit.
        answer = int((yield from one(script("relabel_json", [key, index], [*header(), record_id, raw, new]))))
        if answer:
            return answer > 0
    raise Contended(f"the {resource} changed {tries} times while this change was made; nothing was changed")


class Count(NamedTuple):
    """How many records a list's filters match: `n`, or at least `n` when not `exact` (a filtered page examines
    the scan budget's ids at most); `truncated`: the page stopped short at that budget (narrow the filters)."""

    n: int
    exact: bool = True
    truncated: bool = False

    def fields(self) -> dict[str, Any]:
        """The count's fields of a list's answer."""
        return {"count": self.n, "count_exact": self.exact, "truncated": self.truncated}


def page(
    index: str, facets: list[str], limit: int, offset: int, within: str | None = None, *, scan: int,
) -> Op[tuple[list[str], Count]]:
    """The ids of `index` that have every one of `facets` ("tag=prod") and are in the sorted set `within` (a
    status index), newest first, and how many there are. Two sets or more examine at most `scan` ids (the
    smallest set's newest): a page past them is empty and says `truncated`, having examined no more."""
    sets = [Keys.facet(index, facet) for facet in facets] + ([within] if within else [])
    if facets and not (yield from one(cmd("exists", Keys.labels_indexed))):
        yield from label_existing()
    if len(sets) <= 1:
        only = sets[0] if sets else index
        ids, count = yield batch(cmd("zrevrange", only, offset, offset + limit - 1), cmd("zcard", only))
        return [str(i) for i in ids], Count(int(count))
    scratch = Keys.facet(index, f"scratch:{uuid.uuid4().hex}")
    count, ids, exact, truncated = yield from one(script("filter_page", [scratch, *sets],
                                                         [*header(), offset, limit, scan]))
    return [str(i) for i in ids], Count(int(count), bool(exact), bool(truncated))


def label_existing() -> Op[int]:
    """Index the facets of the records stored before facets existed (once per Redis, by the first filtered list;
    a second run only repeats the first's work); how many records were looked at."""
    seen = 0
    for key_of, index, is_hash in RESOURCES.values():
        ids = yield from one(cmd("zrange", index, 0, -1))
        seen += len(ids)
        for start in range(0, len(ids), LABEL_CHUNK):
            yield from one(script("label_ids", [index], [*header(), "hash" if is_hash else "json", key_of(""),
                                                         *ids[start:start + LABEL_CHUNK]]))
    yield batch(cmd("set", Keys.labels_indexed, "1"))
    return seen


def unindex(index: str, record_id: str) -> Op[None]:
    """Take a record out of its creation index, its id index and its facets (one step)."""
    yield from one(script("unindex", [index], [*header(), record_id]))
