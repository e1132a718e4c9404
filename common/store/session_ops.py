"""Streaming sessions' records (common.sessions): read, saved only if unchanged, looked at, deleted."""

from __future__ import annotations

from dataclasses import dataclass

from rnncast.common.sessions import SessionState
from rnncast.common.store.keys import Keys
from rnncast.common.store.plan import Op, batch, cmd, one, script


@dataclass(frozen=True)
class SessionSave:
    """A state to save; `expected`: the `observed` count it was read with (None: a new session); `stated`: an observe
    that stated its count (`after`), so one of its sends that finds this very state saved by another (its twin,
    read at the same count) is answered as saved."""

    session_id: str
    expected: int | None
    state: SessionState
    stated: bool = False


def read_sessions(session_ids: list[str]) -> Op[dict[str, SessionState]]:
    """The states of those of `session_ids` that exist (one command); one that does not decode is left out. (An
    observe's comes with it from the admission; this reads those of an older API's.)"""
    if not session_ids:
        return {}
    found = yield from one(script("load_sessions", [Keys.session(s) for s in session_ids], []))
    out = {}
    for k, session_id in enumerate(session_ids):
        observed, raw = found[2 * k], found[2 * k + 1]
        if observed is not None and raw is not None:
            try:
                out[session_id] = SessionState.decode(observed, raw)
            except (ValueError, KeyError, TypeError):
                continue
    return out


def save_sessions(
    saves: list[tuple[SessionSave, str, str]], others: dict[str, list[str]], inbox_ttl_s: int,
) -> Op[list[int]]:
    """Save each state, `(save, inbox, answer)`, if its session is as it was read, and then push its answer onto
    `inbox`, with the `others` answers of each inbox (one command): per save, 1 saved (or, `stated`, found saved by
    its twin) and answered, 0 it moved on meanwhile, -1 it is gone (for those two nothing is saved nor answered)."""
    if not saves:
        return []
    inboxes: dict[str, int] = {inbox: k for k, inbox in enumerate(others, 1)}
    args: list[str | int] = [inbox_ttl_s, len(saves)]
    for save, inbox, answer in saves:
        state, at = save.state, inboxes.setdefault(inbox, len(inboxes) + 1)
        expected = "-" if save.expected is None else save.expected
        head = f"{at} {expected} {state.observed} {state.ttl_s * 1000} {state.model_id} {int(save.stated)}"
        args += [head, state.encode(), answer]
    for inbox in inboxes:
        answers = others.get(inbox, [])
        args += [len(answers), *answers]
    keys = [Keys.session(save.session_id) for save, _, _ in saves] + [Keys.replies(inbox) for inbox in inboxes]
    found = yield from one(script("save_sessions", keys, args))
    return [int(n) for n in found]


def get_session(session_id: str) -> Op[tuple[SessionState, int] | None]:
    """A session's state and its time to live left (ms), or None."""
    (observed, raw), ttl_ms = yield batch(
        cmd("hmget", Keys.session(session_id), ["observed", "state"]), cmd("pttl", Keys.session(session_id))
    )
    if observed is None or raw is None:
        return None
    return SessionState.decode(observed, raw), int(ttl_ms)


def delete_session(session_id: str) -> Op[bool]:
    """Forget a session; False if there was none."""
    return bool((yield from one(cmd("delete", Keys.session(session_id)))))
