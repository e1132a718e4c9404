"""Model records: one per succeeded training job, kept until deleted."""

from __future__ import annotations

import json
from typing import Any

from rnncast.common.store.keys import Keys
from rnncast.common.store.label_ops import Count, page
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.scripts import header


def get_model(model_id: str) -> Op[dict[str, Any] | None]:
    raw = yield from one(cmd("get", Keys.model(model_id)))
    return json.loads(raw) if raw else None


def list_models(
    limit: int, offset: int, facets: tuple[str, ...] = (), *, scan: int,
) -> Op[tuple[list[dict[str, Any]], Count]]:
    """Models newest first (with every one of `facets`, `label_lua`), and how many there are."""
    ids, count = yield from page(Keys.models, list(facets), limit, offset, scan=scan)
    raws = (yield from one(cmd("mget", [Keys.model(i) for i in ids]))) if ids else []
    return [json.loads(r) for r in raws if r], count


def delete_model(model_id: str) -> Op[bool]:
    """Forget a model's record; False if there was none."""
    keys = [Keys.model(model_id), Keys.models, Keys.model_bytes]
    return bool((yield from one(script("delete_model", keys, [*header(), model_id]))))


def existing_models(model_ids: list[str]) -> Op[set[str]]:
    """Which of `model_ids` still have a record."""
    found = (yield batch(*(cmd("exists", Keys.model(m)) for m in model_ids))) if model_ids else []
    return {m for m, n in zip(model_ids, found, strict=True) if n}


def model_records(model_ids: list[str]) -> Op[dict[str, dict[str, Any]]]:
    """The records of those of `model_ids` that exist (one round trip)."""
    raws = (yield from one(cmd("mget", [Keys.model(m) for m in model_ids]))) if model_ids else []
    return {m: json.loads(raw) for m, raw in zip(model_ids, raws, strict=True) if raw}


def set_model_field(model_id: str, field: str, value: Any, tries: int = 3) -> Op[bool]:
    """Set one field of a model's record (its last backtest's verdict), read and written back only if unchanged
    meanwhile (JSON is decoded here, not in Lua: its numbers keep every digit); False if there is no such model."""
    for _ in range(tries):
        raw = yield from one(cmd("get", Keys.model(model_id)))
        if not raw:
            return False
        new = json.dumps(json.loads(raw) | {field: value})
        if (yield from one(script("set_model_field", [Keys.model(model_id)], [raw, new]))):
            return True
    return False
