"""A session's state as Redis keeps it (common.sessions): its window goes as a JSON list and comes back to the
bit; one that is not a state raises."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from rnncast.common.sessions import SessionState


def test_a_window_round_trips_to_the_bit():
    rng = np.random.default_rng(0)
    window = np.concatenate([rng.normal(size=77) * 1e3, [-0.0, 5e-324, sys.float_info.max]])
    state = SessionState("a" * 32, "b" * 64, 3, 60, 120, window)
    back = SessionState.decode("120", state.encode())
    assert back.window.tobytes() == window.tobytes()
    assert (back.model_id, back.sha256, back.horizon, back.ttl_s, back.observed) == ("a" * 32, "b" * 64, 3, 60, 120)
    moved = back.seen([1.5, 2.5])
    assert moved.observed == 122 and moved.window.tolist() == [*window[2:].tolist(), 1.5, 2.5]


def test_a_window_written_as_any_version_writes_it_reads():
    raw = json.dumps({"model_id": "a" * 32, "sha256": "b" * 64, "horizon": 1, "ttl_s": 60, "window": [0.1, 2, -3.5]})
    assert SessionState.decode("3", raw).window.tolist() == [0.1, 2.0, -3.5]


def _state(**fields: object) -> str:
    return json.dumps({"model_id": "a" * 32, "sha256": "b" * 64, "horizon": 1, "ttl_s": 1, **fields})


@pytest.mark.parametrize("raw", [
    "not json", "{}", _state(window=["x"]), _state(window=[[1.0, 2.0]]), _state(window=1.0),
    _state(window=[1.0], model_id="a b"),  # a model that is not an id (the save script splits on spaces)
])
def test_what_is_not_a_state_raises(raw):
    with pytest.raises((ValueError, KeyError, TypeError)):
        SessionState.decode("1", raw)
