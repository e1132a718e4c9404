"""Registering an imported model (a checkpoint trained elsewhere, POST /v1/models): its record saved within the
models quota in one script (`import_script`), as admitting a job or a dataset is (`admission`)."""

from __future__ import annotations

import json
from typing import Any

from rnncast.common.store.admission import Quota, QuotaExceeded, _admit
from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op


class ModelExists(Exception):
    """A model with the imported model's id already exists (ids are fresh: this is a bug, not a user's error)."""


def import_model(record: dict[str, Any], quota: Quota) -> Op[None]:
    """Save an imported model's record within `quota` (its checkpoint's bytes count); raises QuotaExceeded."""
    size = int(record["checkpoint"]["bytes"])
    keys = [Keys.model(record["id"]), Keys.models, Keys.model_bytes]
    state, *values = yield from _admit("import_model", keys,
                                       [json.dumps(record), record["id"], size, quota.count, quota.bytes], [])
    if state == "models":
        raise QuotaExceeded("models", "count", values[0], 1, quota.count, active=values[1])
    if state == "model_bytes":
        raise QuotaExceeded("models", "bytes", values[0], size, quota.bytes)
    if state == "exists":
        raise ModelExists(record["id"])
