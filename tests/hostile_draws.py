"""Hostile requests drawn toward the extremes, for tests/service/test_hostile_property.py and
bench/hostile_property.py.

A site is a real stack (Redis, a training worker, a predict worker, the API with a key and the wrong-key
throttle at its default) under small limits, with three models: a tiny GRU (the probe's), a 1-unit RNN with
windows of LONG_WINDOW (its forecasts are almost all per-step cost) and a 2-layer LSTM, and a comparison of
two tiny GRUs (ensembles). A Draw names one abusive request (or a burst of them) by its sizes; the values
are built from the sizes, so Hypothesis prints and shrinks small things. `send` sends one and times each
answer; tests/hostile_judge.py starts the site and judges the answers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import strategies as st

from rnncast.common.defaults import MAX_HORIZON
from rnncast.common.rollout_work import forecast_work
from tests.support import TINY, Api, Proc

KEY = "hostile-property-key-0123456789"
AUTH = {"X-API-Key": KEY}
TIMEOUT_S = 2.0  # RNNCAST_FORECAST_TIMEOUT: a lane request's answer comes by then (503 when it is past)
GRACE_S = 1.0  # RNNCAST_BODY_GRACE_S
SLACK_S = 3.0  # on top of a request's timeout, for two shared cores
LONG_WINDOW = 16_000
HORIZON = 8000  # RNNCAST_MAX_HORIZON
MAX_UPLOAD = 1024 * 1024
LIMITS = {
    "RNNCAST_API_KEY": KEY, "RNNCAST_FORECAST_TIMEOUT": str(TIMEOUT_S), "RNNCAST_MAX_HORIZON": str(HORIZON),
    "RNNCAST_MAX_CONTEXT": "10000", "RNNCAST_MAX_DATASET_POINTS": "20000", "RNNCAST_MAX_FORECAST_WORK": "3e10",
    "RNNCAST_MAX_UPLOAD_BYTES": str(MAX_UPLOAD), "RNNCAST_MAX_CONCURRENT_UPLOADS": "2", "RNNCAST_MAX_DATASETS": "3",
    "RNNCAST_BODY_GRACE_S": str(GRACE_S), "RNNCAST_MAX_QUEUED_FORECASTS": "8", "RNNCAST_MAX_QUEUED_FIGURES": "8",
    "RNNCAST_API_STORE_TIMEOUT_S": "3",
}
MODELS = {
    "probe": {"cell": "GRU", **TINY},
    "thin": {"cell": "RNN", "hidden_size": 1, "num_layers": 1, "sequence_length": LONG_WINDOW, "epochs": 1,
             "batch_size": 4096, "lr": 0.01, "data": {"points": LONG_WINDOW + 400, "stop": 400.0}},
    "wide": {"cell": "LSTM", "hidden_size": 64, "num_layers": 2, "sequence_length": 50, "epochs": 1,
             "batch_size": 256, "lr": 0.01, "data": {"points": 400, "stop": 100.0}},
}
NULLS = (MAX_UPLOAD - 64) // 5  # the most nulls an upload body holds
RSS_BOUND_MB = 200.0  # 10x what the largest bounded upload burst costs the API
ERROR_BYTES = 16 * 1024  # any answer but a 200's body


@dataclass(frozen=True)
class Draw:
    """One abusive request (or burst), by its sizes.

    kind: forecast, figure (forecast.png), backtest, ensemble, uploads (`count` at once of `size` values,
    CSV when `csv`), nulls (`size` nulls as a dataset's values), idle (`count` uploads that declare the
    largest body and send 20 bytes), nested (a job body nested `size` deep), wrong_keys (`count` wrong keys,
    then the right one).
    """

    kind: str
    model: str = "probe"
    horizon: int = 5
    context: int = 0  # values of context; 0: from `start`
    count: int = 1
    size: int = 0
    csv: bool = False


def extreme(lo: int, hi: int) -> st.SearchStrategy[int]:
    """The bounds first, then anything between."""
    return st.one_of(st.sampled_from([hi, lo]), st.integers(lo, hi))


@dataclass(frozen=True)
class Bounds:
    """The served schema's own limits (its maximum and maxItems)."""

    horizon: int
    context: int
    points: int

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Bounds:
        schemas = doc["components"]["schemas"]
        props = schemas["ForecastRequest"]["properties"]
        return cls(props["horizon"]["maximum"], props["context"]["maxItems"],
                   schemas["DatasetValues"]["properties"]["values"]["maxItems"])


def work_edge(model: str, limit: float) -> int:
    """The longest horizon whose one-row forecast on MODELS[model] is within `limit` (RNNCAST_MAX_FORECAST_WORK)."""
    p = MODELS[model]
    lo, hi = 0, MAX_HORIZON
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if forecast_work(1, p["sequence_length"], mid, p["hidden_size"], p.get("num_layers", 1), p["cell"]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _lane_draws(b: Bounds, model: str) -> st.SearchStrategy[Draw]:
    """Forecasts, figures and backtests on one model, horizons at the bounds and at the work limit's edge."""
    edge = work_edge(model, float(LIMITS["RNNCAST_MAX_FORECAST_WORK"]))
    horizon = st.one_of(st.sampled_from([h for h in (edge, edge + 1, b.horizon, 1) if 1 <= h <= b.horizon]),
                        st.integers(1, b.horizon))
    return st.builds(Draw, kind=st.sampled_from(["forecast", "figure", "backtest"]), model=st.just(model),
                     horizon=horizon, context=st.one_of(st.just(0), extreme(1, b.context)), count=extreme(1, 1000))


def draws(b: Bounds) -> st.SearchStrategy[Draw]:
    return st.one_of(
        *(_lane_draws(b, model) for model in ("thin", "wide", "probe")),
        st.builds(Draw, kind=st.just("ensemble"), horizon=extreme(1, b.horizon)),
        st.builds(Draw, kind=st.just("uploads"), count=extreme(1, 8), size=extreme(3, b.points + 1), csv=st.booleans()),
        st.builds(Draw, kind=st.just("nulls"), size=extreme(1, NULLS)),
        st.builds(Draw, kind=st.just("idle"), count=extreme(1, 6)),
        st.builds(Draw, kind=st.just("nested"), size=extreme(1, 200_000)),
        st.builds(Draw, kind=st.just("wrong_keys"), count=extreme(1, 45)),
    )


@dataclass
class Site:
    api: Api
    models: dict[str, str]  # MODELS' names -> model ids
    study: str
    bounds: Bounds
    procs: list[Proc] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, headers=AUTH, timeout=60)


@dataclass
class Answer:
    status: int
    seconds: float
    size: int
    limit_s: float  # when it must have come
    limit_size: int


def _timed(limit_s: float, limit_size: Callable[[int], int], call: Callable[[], httpx.Response]) -> Answer:
    began = time.monotonic()
    try:
        r = call()
        status, size = r.status_code, len(r.content)
    except httpx.TimeoutException:
        status, size = 0, 0  # no answer at all: past any limit
    return Answer(status, time.monotonic() - began, size, limit_s, limit_size(status))


def _lane_size(horizon: int) -> Callable[[int], int]:
    return lambda status: 512 * horizon + 64 * 1024 if status == 200 else ERROR_BYTES


def _png_size(status: int) -> int:
    return 4 * 2**20 if status == 200 else ERROR_BYTES


LIMIT_S = 3.0 + SLACK_S  # every timeout of the site is at most 3 s (forecasts 2, store calls 3, body grace 1)


def _lane_request(site: Site, draw: Draw) -> tuple[str, str, dict[str, Any]]:
    """(method, path, httpx kwargs) of a lane draw."""
    model = site.models[draw.model]
    source: dict[str, Any] = {"context": [0.5] * draw.context} if draw.context else {"start": 40.0}
    if draw.kind == "forecast":
        return "POST", f"/v1/models/{model}/forecast", {"json": {"horizon": draw.horizon, **source}}
    if draw.kind == "figure":
        return "GET", f"/v1/models/{model}/forecast.png", {"params": {"horizon": draw.horizon, "start": 40.0}}
    if draw.kind == "backtest":
        return "POST", f"/v1/models/{model}/backtest", {"json": {"origins": draw.count, "horizon": draw.horizon}}
    return "POST", f"/v1/comparisons/{site.study}/forecast", {"json": {"horizon": draw.horizon, **source}}


def _values_body(draw: Draw, i: int) -> tuple[bytes, str]:
    if draw.csv:
        rows = b"\n".join(b"%d.25" % ((i + k) % 97) for k in range(draw.size))
        return b"v\n" + rows + b"\n", "text/csv"
    values = b",".join(b"%d.25" % ((i + k) % 97) for k in range(draw.size))
    return b'{"name": "u%d", "values": [%s]}' % (i, values), "application/json"


def _uploads(site: Site, draw: Draw) -> list[Answer]:
    def one(i: int) -> Answer:
        body, kind = _values_body(draw, i)
        with site.client() as http:
            return _timed(LIMIT_S, lambda _: ERROR_BYTES, lambda: http.post(
                "/v1/datasets", content=body, headers={"Content-Type": kind}))

    with ThreadPoolExecutor(draw.count) as pool:
        answers = list(pool.map(one, range(draw.count)))
    with site.client() as http:
        kept = http.get("/v1/datasets", params={"limit": 100}).json()["data"]
        assert len(kept) <= int(LIMITS["RNNCAST_MAX_DATASETS"]), f"{len(kept)} datasets kept past the quota"
        for dataset in kept:  # the next draw starts with the quota free
            assert http.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    return answers


def _idle(site: Site, draw: Draw) -> list[Answer]:
    """`count` uploads that declare the largest body, send 20 bytes and wait for their answer."""
    head = (f"POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MAX_UPLOAD - 1}\r\n\r\n{{\"name\": \"idle\", ")
    began = time.monotonic()
    socks = [socket.create_connection(("127.0.0.1", site.api.port), timeout=LIMIT_S) for _ in range(draw.count)]
    answers = []
    for sock in socks:
        sock.sendall(head.encode())
    for sock in socks:
        try:
            reply = sock.recv(ERROR_BYTES + 1)
            status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
        except TimeoutError:
            reply, status = b"", 0
        finally:
            sock.close()
        answers.append(Answer(status, time.monotonic() - began, len(reply), LIMIT_S, ERROR_BYTES))
    return answers


def send(site: Site, draw: Draw) -> list[Answer]:
    """Send one draw; every answer it got."""
    with site.client() as http:
        if draw.kind in ("forecast", "figure", "backtest", "ensemble"):
            method, path, kwargs = _lane_request(site, draw)
            size = _png_size if draw.kind == "figure" else _lane_size(draw.horizon)
            return [_timed(LIMIT_S, size, lambda: http.request(method, path, **kwargs))]
        if draw.kind == "uploads":
            return _uploads(site, draw)
        if draw.kind == "idle":
            return _idle(site, draw)
        if draw.kind == "nulls":
            body = b'{"name": "n", "values": [' + b",".join([b"null"] * draw.size) + b"]}"
            return [_timed(LIMIT_S, lambda _: ERROR_BYTES, lambda: http.post(
                "/v1/datasets", content=body, headers={"Content-Type": "application/json"}))]
        if draw.kind == "nested":
            body = b'{"cell": "GRU", "data": ' + b"[" * draw.size + b"]" * draw.size + b"}"
            return [_timed(LIMIT_S, lambda _: ERROR_BYTES, lambda: http.post(
                "/v1/jobs", content=body, headers={"Content-Type": "application/json"}))]
        assert draw.kind == "wrong_keys", draw
        answers = [_timed(LIMIT_S, lambda _: ERROR_BYTES, lambda i=i: http.get(  # type: ignore[misc]
            "/v1/jobs", params={"limit": 1}, headers={"X-API-Key": f"guess-{i:024d}"})) for i in range(draw.count)]
        right = _timed(LIMIT_S, lambda _: 64 * 1024, lambda: http.get("/v1/jobs", params={"limit": 1}))
        assert right.status == 200, f"the right key was refused ({right.status}) after {draw.count} wrong ones"
        return [*answers, right]
