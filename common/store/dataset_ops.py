"""Dataset records: what the API stored, kept until deleted (the values live in files, common.datasets)."""

from __future__ import annotations

import json
from typing import Any

from rnncast.common.store.keys import Keys
from rnncast.common.store.label_ops import Count, page
from rnncast.common.store.plan import Op, cmd, one, script
from rnncast.common.store.scripts import header


def stored_bytes(record: dict[str, Any]) -> int:
    """What a dataset's values take (float64), and its timestamps (datetime64) when it has a time axis, as the
    dataset quota counts them."""
    return int(record["length"]) * 8 * (2 if record.get("frequency") else 1)


def get_dataset(dataset_id: str) -> Op[dict[str, Any] | None]:
    raw = yield from one(cmd("get", Keys.dataset(dataset_id)))
    return json.loads(raw) if raw else None


def list_datasets(
    limit: int, offset: int, facets: tuple[str, ...] = (), *, scan: int,
) -> Op[tuple[list[dict[str, Any]], Count]]:
    """Datasets newest first (with every one of `facets`, `label_lua`), and how many there are."""
    ids, count = yield from page(Keys.datasets, list(facets), limit, offset, scan=scan)
    raws = (yield from one(cmd("mget", [Keys.dataset(i) for i in ids]))) if ids else []
    return [json.loads(r) for r in raws if r], count


def delete_dataset(dataset_id: str) -> Op[str]:
    """'deleted', 'missing', or 'active:<job id>' while a queued or running job trains on it."""
    keys = [Keys.dataset(dataset_id), Keys.dataset_users(dataset_id), Keys.datasets, Keys.dataset_bytes]
    return str((yield from one(script("delete_dataset", keys, [*header(), dataset_id]))))
