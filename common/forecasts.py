"""The forecast lane's wire format, shared by the API and the predict workers.

A forecast is a small synchronous request: the API pushes it as JSON onto one
Redis list (`Keys.forecasts`), a predict worker pops whatever is queued (one
round trip for a whole batch), runs it as batched rollouts and pushes each
answer onto the asking API process's inbox list (`Keys.replies`). An answer
is a one-line header, then the response body exactly as the API returns it,
so the API neither parses nor re-encodes the predictions.

One Celery message plus one reply key per request cost more CPU than the
forecast itself under load (bench/forecast_load.py); Celery still carries the
heavy, rare work (training, figures).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

REPLY_TTL_S = 60  # an inbox nobody reads (its API process died) disappears


@dataclass(frozen=True)
class Answer:
    """A worker's answer to one forecast request."""

    request_id: str
    status: int  # the HTTP status the API returns
    batch: int  # how many requests shared the batched rollout
    body: bytes  # JSON: the forecast, or {"detail": ...}


def now_ms() -> int:
    return int(time.time() * 1000)


def encode_request(request_id: str, inbox: str, timeout_s: float, message: dict[str, Any]) -> str:
    """The queued form of a request; it is dropped unanswered once the API has given up."""
    return json.dumps({"id": request_id, "inbox": inbox, "deadline_ms": now_ms() + int(timeout_s * 1000), **message})


def encode_answer(answer: Answer) -> bytes:
    return f"{answer.request_id} {answer.status} {answer.batch}\n".encode() + answer.body


def decode_answer(raw: bytes) -> Answer:
    """Raises ValueError on anything that is not an answer."""
    head, sep, body = raw.partition(b"\n")
    parts = head.decode("ascii").split(" ")
    if not sep or len(parts) != 3:
        raise ValueError(f"malformed forecast answer {raw[:80]!r}")
    return Answer(parts[0], int(parts[1]), int(parts[2]), body)


def error_body(detail: str) -> bytes:
    return json.dumps({"detail": detail}).encode()
