"""Short ids: the records whose id starts with a prefix, as git and docker take an id's first characters.

Every creation index (`Keys.jobs`, `models`, `comparisons`, `datasets`) has an id index beside it
(`Keys.by_id`), every member scored 0 so that ZRANGEBYLEX finds a prefix's ids in O(log n). The scripts
that add or remove a record change both in the same step (`prelude.index_add`/`index_rem`). Records
created before the id indexes existed are entered once per Redis, by the first lookup that finds the
`Keys.ids_indexed` mark missing (`index_existing`).
"""

from __future__ import annotations

from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.prelude import header

CREATION_INDEXES = (Keys.jobs, Keys.models, Keys.comparisons, Keys.searches, Keys.datasets, Keys.webhooks)
INDEX_CHUNK = 2000  # ids per script call: a script holds Redis for the whole of its call
# Above every character an id may hold (ids are ASCII): the end of a prefix's range.
_ABOVE = "\x7f"


def ids_with_prefix(indexes: tuple[str, ...], prefix: str, limit: int) -> Op[list[str]]:
    """The ids in any of the creation `indexes` that start with `prefix`, sorted, at most `limit` of them."""
    marked, *found = yield batch(cmd("exists", Keys.ids_indexed), *(
        cmd("zrangebylex", Keys.by_id(index), f"[{prefix}", f"({prefix}{_ABOVE}", start=0, num=limit)
        for index in indexes))
    if not marked:
        yield from index_existing()
        return (yield from ids_with_prefix(indexes, prefix, limit))
    return sorted({str(i) for ids in found for i in ids})[:limit]


def index_existing() -> Op[int]:
    """Enter the records created before the id indexes existed (once per Redis; a second run only repeats
    the first's work); how many ids were looked at."""
    seen = 0
    for index in CREATION_INDEXES:
        ids = yield from one(cmd("zrange", index, 0, -1))
        seen += len(ids)
        for start in range(0, len(ids), INDEX_CHUNK):
            yield from one(script("index_ids", [index], [*header(), *ids[start:start + INDEX_CHUNK]]))
    yield batch(cmd("set", Keys.ids_indexed, "1"))
    return seen
