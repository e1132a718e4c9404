"""An `alias.moved` delivery keeps the move as it was made (in the same script step), so its body still says
where the alias moved after the alias is deleted, or has moved past its history's length, before it is sent."""

from __future__ import annotations

import json
import uuid

from rnncast.common.aliases import ALIAS_HISTORY_KEPT
from rnncast.common.store import Keys
from rnncast.common.store.alias_ops import delete_alias, move_alias
from rnncast.common.store.sync import JobStore
from rnncast.common.store.webhook_ops import create_webhook, get_delivery
from rnncast.worker.webhooks import payload


def test_a_moves_delivery_says_where_it_moved_after_the_alias_is_gone(redis_server):
    store = JobStore.from_url(redis_server.url)
    r = redis_server.client()
    r.flushdb()
    assert store.run(create_webhook(uuid.uuid4().hex, "https://example.org/hook", "s" * 32, ["alias.moved"],
                                    "2026-12-06T00:00:00Z", 10))
    models = [uuid.uuid4().hex for _ in range(2)]
    for m in models:
        r.set(Keys.model(m), json.dumps({"id": m}))
    first = store.run(move_alias("prod", models[0], grace_ms=1000, evidence={"skill": 0.5}))
    assert first.outcome == "moved"
    for i in range(ALIAS_HISTORY_KEPT + 1):  # the first move leaves the alias's history
        assert store.run(move_alias("prod", models[(i + 1) % 2], grace_ms=1000)).outcome == "moved"
    assert store.run(delete_alias("prod", grace_ms=1000)) is not None
    due = r.zrange(Keys.deliveries_due, 0, -1)
    bodies = [json.loads(payload(store, store.run(get_delivery(d)))) for d in due]
    made = next(b["data"] for b in bodies if b["data"]["seq"] == first.seq)
    assert made == {"alias": "prod", "seq": first.seq, "from": None, "to": models[0], "at": made["at"],
                    "evidence": {"skill": 0.5}}
    assert len(bodies) == ALIAS_HISTORY_KEPT + 2 and all("to" in b["data"] for b in bodies)
