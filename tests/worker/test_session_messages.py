"""A session request on the lane is read strictly before anything is computed for it (worker.sessions): a
malformed one, a stated count (`after`) included, is dropped (and logged), never served."""

from __future__ import annotations

import pytest

from rnncast.common.forecasts import encode_request
from rnncast.common.sessions import AFTER, OBSERVE, SESSION
from rnncast.worker.sessions import DROP, _session_message

SID = "e" * 32


def observe(**session) -> str:
    return encode_request("a" * 32, "b" * 32, 30, {"values": [0.5], SESSION: {"op": OBSERVE, "id": SID, **session}})


def test_an_observe_stating_its_count_is_read_as_sent():
    msg = _session_message(observe(**{AFTER: 12}))
    assert msg is not DROP and msg is not None and msg[SESSION][AFTER] == 12
    assert _session_message(observe(**{AFTER: 0}))[SESSION][AFTER] == 0  # type: ignore[index]
    assert AFTER not in _session_message(observe())[SESSION]  # type: ignore[index]


@pytest.mark.parametrize("after", [-1, "12", 12.0, True, None, [12]])
def test_an_observe_whose_count_is_not_one_is_dropped(after):
    assert _session_message(observe(**{AFTER: after})) is DROP
