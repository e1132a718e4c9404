"""A session's state is saved only if it is as it was read, and its answer is pushed in the same step only then
(common.store.session_ops.save_sessions, on a real Redis): never an answer for a state that was not saved."""

from __future__ import annotations

import numpy as np

from rnncast.common.sessions import SessionState
from rnncast.common.store import Keys
from rnncast.common.store.session_ops import SessionSave
from rnncast.common.store.sync import JobStore

INBOX = "c" * 32


def state(observed: int) -> SessionState:
    return SessionState("a" * 32, "b" * 64, 1, 60, observed, np.arange(3, dtype=np.float64))


def test_each_answer_is_pushed_only_with_its_saved_state(redis_server):
    store = JobStore.from_url(redis_server.url)
    new, moved, gone = "1" * 32, "2" * 32, "3" * 32
    store.r.delete(Keys.session(new), Keys.session(moved), Keys.session(gone), Keys.replies(INBOX))
    store.r.hset(Keys.session(moved), mapping={"observed": "5", "state": state(5).encode()})
    saves = [(SessionSave(new, None, state(3)), INBOX, "answer-new"),
             (SessionSave(new, None, state(3)), INBOX, "answer-twice"),  # opened again meanwhile: it exists
             (SessionSave(moved, 4, state(6)), INBOX, "answer-moved"),  # read at 4, saved at 5 since
             (SessionSave(gone, 7, state(8)), INBOX, "answer-gone")]
    assert store.save_sessions(saves, 30) == [1, 0, 0, -1]
    assert store.r.lrange(Keys.replies(INBOX), 0, -1) == ["answer-new"]
    assert 0 < store.r.ttl(Keys.replies(INBOX)) <= 30
    assert store.r.hget(Keys.session(new), "model") == "a" * 32  # for the admission to send its record
    assert store.r.hget(Keys.session(moved), "observed") == "5" and not store.r.exists(Keys.session(gone))
    assert SessionState.decode("3", store.r.hget(Keys.session(new), "state")).window.tolist() == [0.0, 1.0, 2.0]
