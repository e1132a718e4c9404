"""Aliases: a name pointing at one model, moved atomically with its history and its webhook deliveries
(`alias_scripts`); a model an alias points at is not deleted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rnncast.common.aliases import ALIAS_HISTORY_KEPT
from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script
from rnncast.common.store.prelude import header
from rnncast.common.values import now_iso

ANY = "*"  # `move_alias`'s `expected`: move whatever the alias points at now
_MODEL_PREFIX, _SET_SUFFIX = Keys.model_aliases("\0").split("\0")
_LEFT_SUFFIX = Keys.model_unaliased("\0").split("\0")[1]


@dataclass(frozen=True)
class Move:
    """What a move did: `outcome` is 'moved', 'unchanged', 'missing' (no such model), 'deleting' (the model is
    being deleted) or 'stale' (the alias no longer points at `expected`); `previous` the model it pointed at
    ('moved', 'stale'; None: the alias did not exist), `seq` the move's number ('moved')."""

    outcome: str
    previous: str | None = None
    seq: int | None = None


def move_alias(name: str, model_id: str, grace_ms: int, evidence: dict[str, Any] | None = None,
               expected: str = ANY) -> Op[Move]:
    """Point alias `name` at `model_id` (creating it), recording `evidence` in its history, if the model exists
    and is not being deleted and the alias points at `expected` ('': it does not exist; ANY: whatever). The model
    it leaves is not deleted for `grace_ms`."""
    keys = [Keys.alias(name), Keys.alias_history(name), Keys.aliases, Keys.model(model_id),
            Keys.model_aliases(model_id), Keys.models_deleting, Keys.alias_moves]
    answer = str((yield from one(script("move_alias", keys, [
        *header(), name, model_id, expected, json.dumps(evidence), now_iso(), ALIAS_HISTORY_KEPT, _MODEL_PREFIX,
        _SET_SUFFIX, _LEFT_SUFFIX, grace_ms]))))
    outcome, _, rest = answer.partition(":")
    if outcome == "moved":
        seq, _, previous = rest.partition(":")
        return Move("moved", previous or None, int(seq))
    return Move(outcome, rest or None)


def alias_target(name: str) -> Op[str | None]:
    """The model the alias points at now (one read), or None."""
    found = yield from one(cmd("hget", Keys.alias(name), "model_id"))
    return str(found) if found else None


def _view(raw: dict[str, str]) -> dict[str, Any]:
    return {"name": raw["name"], "model_id": raw["model_id"], "created_at": raw["created_at"],
            "moved_at": raw["moved_at"], "moves": int(raw["seq"])}


def aliases_of(model_ids: list[str]) -> Op[dict[str, list[str]]]:
    """The names of the aliases pointing at each of `model_ids` (sorted; none: an empty list), in one round trip."""
    if not model_ids:
        return {}
    found = yield batch(*(cmd("smembers", Keys.model_aliases(i)) for i in model_ids))
    return {i: sorted(names) for i, names in zip(model_ids, found, strict=True)}


def get_alias(name: str) -> Op[dict[str, Any] | None]:
    """An alias with its history (oldest move first), or None; read in one step, so the two agree."""
    raw, history = yield batch(cmd("hgetall", Keys.alias(name)), cmd("lrange", Keys.alias_history(name), 0, -1),
                               atomic=True)
    if not raw:
        return None
    return _view(raw) | {"history": [json.loads(entry) for entry in history]}


def list_aliases(limit: int, offset: int) -> Op[tuple[list[dict[str, Any]], int]]:
    """Aliases oldest first (by creation), without their histories, and how many there are."""
    names, count = yield batch(cmd("zrange", Keys.aliases, offset, offset + limit - 1), cmd("zcard", Keys.aliases))
    rows = (yield batch(*(cmd("hgetall", Keys.alias(n)) for n in names))) if names else []
    return [_view(raw) for raw in rows if raw], int(count)


def delete_alias(name: str, grace_ms: int) -> Op[str | None]:
    """Delete an alias and its history: the model it pointed at (not deleted for `grace_ms`), or None if there
    was no such alias."""
    found = yield from one(script("delete_alias", [Keys.alias(name), Keys.alias_history(name), Keys.aliases],
                                  [*header(), name, _MODEL_PREFIX, _SET_SUFFIX, _LEFT_SUFFIX, grace_ms]))
    return str(found) if found else None


def hold_model(model_id: str) -> Op[tuple[list[str], int]]:
    """Mark a model as being deleted (no alias may move onto it from now), unless aliases point at it (their
    names) or one left it within its grace period (the ms to go); then nothing is marked. ([], 0): marked."""
    answer = str((yield from one(script("hold_model", [
        Keys.model_aliases(model_id), Keys.models_deleting, Keys.model_unaliased(model_id)], [*header(), model_id]))))
    kind, _, rest = answer.partition(":")
    if kind == "aliased":
        return rest.split(","), 0
    return [], int(rest) if kind == "left" else 0


def release_model(model_id: str) -> Op[None]:
    """The model's deletion is over (its record is gone): drop its mark."""
    yield batch(cmd("srem", Keys.models_deleting, model_id))


def alias_move(subject: str) -> Op[dict[str, Any]]:
    """The move an `alias.moved` delivery's subject (`<name>#<seq>`) names, as its body shows it: the alias, the
    move's number, the models it moved from and to, when, and the evidence (only the name and number once the
    move has left the alias's history)."""
    name, _, seq = subject.rpartition("#")
    history = yield from one(cmd("lrange", Keys.alias_history(name), 0, -1))
    for raw in history:
        entry: dict[str, Any] = json.loads(raw)
        if str(entry.get("seq")) == seq:
            return {"alias": name, **entry}
    return {"alias": name, "seq": int(seq) if seq.isdigit() else None}
