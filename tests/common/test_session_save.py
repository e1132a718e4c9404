"""A session's state is saved only if it is as it was read, and its answer is pushed in the same step only then,
with the turn's other answers (common.store.session_ops.save_sessions, on a real Redis): never an answer for a
state that was not saved, one command and one round trip for all, and nothing written for a malformed save."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from rnncast.common.sessions import SessionState
from rnncast.common.store import Keys
from rnncast.common.store.session_ops import SessionSave
from rnncast.common.store.sync import JobStore
from tests.redis_counts import per_unit

INBOX, OTHER = "c" * 32, "d" * 32


def state(observed: int) -> SessionState:
    return SessionState("a" * 32, "b" * 64, 1, 60, observed, np.arange(3, dtype=np.float64))


def test_each_answer_is_pushed_only_with_its_saved_state(redis_server):
    store = JobStore.from_url(redis_server.url)
    new, moved, gone = "1" * 32, "2" * 32, "3" * 32
    store.r.delete(Keys.session(new), Keys.session(moved), Keys.session(gone), Keys.replies(INBOX),
                   Keys.replies(OTHER))
    store.r.hset(Keys.session(moved), mapping={"observed": "5", "state": state(5).encode()})
    saves = [(SessionSave(new, None, state(3)), INBOX, "answer-new"),
             (SessionSave(new, None, state(3)), INBOX, "answer-twice"),  # opened again meanwhile: it exists
             (SessionSave(moved, 4, state(6)), INBOX, "answer-moved"),  # read at 4, saved at 5 since
             (SessionSave(gone, 7, state(8)), INBOX, "answer-gone")]
    others = {OTHER: ["plain-1", "plain-2"], INBOX: ["plain-3"]}
    assert store.save_sessions(saves, others, 30) == [1, 0, 0, -1]
    assert sorted(store.r.lrange(Keys.replies(INBOX), 0, -1)) == ["answer-new", "plain-3"]
    assert store.r.lrange(Keys.replies(OTHER), 0, -1) == ["plain-1", "plain-2"]
    assert 0 < store.r.ttl(Keys.replies(OTHER)) <= 30
    assert 0 < store.r.ttl(Keys.replies(INBOX)) <= 30
    assert store.r.hget(Keys.session(new), "model") == "a" * 32  # for the admission to send its record
    assert store.r.hget(Keys.session(moved), "observed") == "5" and not store.r.exists(Keys.session(gone))
    assert SessionState.decode("3", store.r.hget(Keys.session(new), "state")).window.tolist() == [0.0, 1.0, 2.0]


def test_a_delivery_with_sessions_and_other_answers_is_one_round_trip(redis_server):
    store = JobStore.from_url(redis_server.url)
    sid = "4" * 32

    def deliver() -> None:
        store.r.delete(Keys.session(sid))
        assert store.save_sessions([(SessionSave(sid, None, state(3)), INBOX, "a")], {OTHER: ["b", "c"]}, 30) == [1]

    deliver()
    counts = per_unit(store.r, deliver, 20)
    # the DEL, then the script with its HGET, HSET, PEXPIRE and an RPUSH and EXPIRE for each of the two inboxes:
    # two round trips, no SCRIPT EXISTS
    assert counts.round_trips <= 2.5 and counts.commands <= 9.5, counts


def test_a_malformed_save_writes_nothing(redis_server):
    store = JobStore.from_url(redis_server.url)
    sid = "5" * 32
    store.r.delete(Keys.session(sid), Keys.replies(INBOX))
    good = (SessionSave(sid, None, state(3)), INBOX, "a")
    bad = (SessionSave("6" * 32, None, SessionState("a b", "b" * 64, 1, 60, 3, np.zeros(3))), INBOX, "b")
    with pytest.raises(redis.ResponseError, match="malformed session save 2"):
        store.save_sessions([good, bad], {}, 30)
    assert not store.r.exists(Keys.session(sid)) and not store.r.exists(Keys.replies(INBOX))


def test_an_observe_that_stated_its_count_finding_its_twin_saved_is_answered_as_saved(redis_server):
    """Two sends of one observe with `after` (a resend), read at the same count: the one saved second finds the
    very state it would save, and is answered; a save that did not state its count, or whose state differs, or
    that finds another count, still moved on."""
    store = JobStore.from_url(redis_server.url)
    sid = "7" * 32
    store.r.delete(Keys.session(sid), Keys.replies(INBOX))
    store.r.hset(Keys.session(sid), mapping={"observed": "6", "state": state(6).encode(), "model": "a" * 32})
    store.r.pexpire(Keys.session(sid), 5_000)
    other = SessionState("a" * 32, "b" * 64, 1, 60, 6, np.array([0.0, 1.0, 9.0]))
    saves = [(SessionSave(sid, 5, state(6), stated=True), INBOX, "twin"),
             (SessionSave(sid, 5, state(6)), INBOX, "unstated"),
             (SessionSave(sid, 5, other, stated=True), INBOX, "other-values"),
             (SessionSave(sid, 4, state(7), stated=True), INBOX, "other-count")]
    assert store.save_sessions(saves, {}, 30) == [1, 0, 0, 0]
    assert store.r.lrange(Keys.replies(INBOX), 0, -1) == ["twin"]
    assert store.r.hget(Keys.session(sid), "observed") == "6" and store.r.hget(Keys.session(sid), "state") == \
        state(6).encode()
    assert store.r.pttl(Keys.session(sid)) > 5_000  # answered, so its time to live starts again
