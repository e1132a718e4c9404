"""The forecast lane's wire format, shared by the API and the predict workers.

A forecast is a small synchronous request: the API admits it as JSON onto one
Redis list (`Keys.forecasts`) with its model's record after a newline (a
session's observe with its session too, as a field of the request), read in
the same script (`lane_ops.admit_forecasts`; `Queued` splits them), a predict worker pops whatever
is queued (one command for a whole batch), runs it as batched rollouts and
pushes each answer onto the asking API process's inbox list (`Keys.replies`),
all of a batch's in one round trip. An answer is a one-line header, then the
response body exactly as the API returns it, so the API neither parses nor
re-encodes the predictions. A request is four round trips in all: the API's
admission and inbox pop, the worker's pop and delivery.

Forecasts do not travel as Celery tasks: one Celery message plus one reply
key per request costs more CPU than the forecast itself under load. Celery
carries the heavy, rare work (training, figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from rnncast.common.values import now_ms

INBOX_TTL_S = 60  # an inbox nobody reads (its API process died) disappears


@dataclass(frozen=True)
class Answer:
    """A worker's answer to one forecast request."""

    request_id: str
    status: int  # the HTTP status the API returns
    batch: int  # how many requests shared the batched rollout
    body: str  # JSON: the forecast, or {"detail": ...}


def encode_request(request_id: str, inbox: str, timeout_s: float, message: dict[str, Any]) -> str:
    """The queued form of a request; it is dropped unanswered once the API has given up. orjson: several times
    json's speed on a window of floats, the same values (shortest round-trip reprs); a message holds no NaN or
    infinity (every request model refuses them: `allow_inf_nan=False`)."""
    request = {"id": request_id, "inbox": inbox, "deadline_ms": now_ms() + int(timeout_s * 1000), **message}
    try:
        return orjson.dumps(request).decode()
    except orjson.JSONEncodeError:  # what orjson will not write (an integer past 64 bits): json, as before
        return json.dumps(request)


class Queued(NamedTuple):
    """A request as the lane holds it: the request (JSON) and its model's record (JSON) if the admission found
    one. (A tuple: one is made per request a worker pops.)"""

    request: str
    record: str | None

    @classmethod
    def of(cls, raw: str) -> Queued:
        """Never raises: what is not one of these shapes comes back as a request the worker's parser drops."""
        request, _, record = raw.partition("\n")  # neither holds a newline: each is JSON
        return cls(request, record or None)


def encode_answer(answer: Answer) -> str:
    return f"{answer.request_id} {answer.status} {answer.batch}\n{answer.body}"


def decode_answer(raw: str) -> Answer:
    """Raises ValueError on anything that is not an answer."""
    head, sep, body = raw.partition("\n")
    parts = head.split(" ")
    if not sep or len(parts) != 3:
        raise ValueError(f"malformed forecast answer {raw[:80]!r}")
    return Answer(parts[0], int(parts[1]), int(parts[2]), body)


def error_answer(request_id: str, status: int, detail: str) -> Answer:
    return Answer(request_id, status, 0, json.dumps({"detail": detail}))
