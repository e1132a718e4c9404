"""A real stack under small limits for the hostile draws (tests/hostile_draws.py), and the judge of each draw:
an answer within the request timeout plus slack and under a size bound, no 5xx but a deadline's 503 (or a
full disk's 507), the API's RSS growth under a bound, and other clients served (a known-good forecast and
figure answer 200 within their timeout, on the other lane during the draw and on both after it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.hostile_draws import AUTH, LIMIT_S, LIMITS, MODELS, RSS_BOUND_MB, TIMEOUT_S, Answer, Bounds, Draw, Site, send
from tests.support import TINY, Api, RedisServer, start_worker, wait_until


@contextmanager
def hostile_site(tmp: Path) -> Iterator[Site]:
    """A stack under LIMITS with MODELS trained and a comparison of two tiny GRUs."""
    redis = RedisServer(tmp / "redis").start()
    procs = [start_worker(redis.url, tmp / "data", tmp / "train.log", queues="train", concurrency=2, extra=LIMITS),
             start_worker(redis.url, tmp / "data", tmp / "predict.log", queues="predict", pool="threads",
                          concurrency=2, extra=LIMITS)]
    api = None
    try:
        api = Api(redis.url, tmp / "data", tmp / "api.log", extra=LIMITS)
        api.http.headers.update(AUTH)
        wait_until(lambda: redis.client().zcard("rnncast:workers") >= 2, timeout=60)
        jobs = {name: api.http.post("/v1/jobs", json=body).json()["id"] for name, body in MODELS.items()}
        study = api.http.post("/v1/comparisons", json={"cells": ["GRU"], "seeds": [0, 1], "train": TINY}).json()["id"]
        for name, job in jobs.items():
            assert api.wait_job(job, timeout=180)["status"] == "succeeded", name
        wait_until(lambda: api.http.get(f"/v1/comparisons/{study}").json()["status"] == "succeeded", timeout=120)
        yield Site(api, jobs, study, Bounds.of(api.http.get("/openapi.json").json()), procs)
    finally:
        if api is not None:
            api.stop()
        for proc in procs:
            proc.stop()
        redis.stop()



class RssPeak(threading.Thread):
    """The API process's RSS every 10 ms, and its peak since the last `reset`."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc, self.stopped = psutil.Process(pid), threading.Event()
        self.now = self.peak = self.proc.memory_info().rss

    def reset(self) -> int:
        self.peak = self.now = self.proc.memory_info().rss
        return self.now

    def run(self) -> None:
        while not self.stopped.wait(0.01):
            try:
                self.now = self.proc.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, self.now)


def _other_lane(draw: Draw) -> str:
    return "figure" if draw.kind == "forecast" else "forecast"


@dataclass
class Judge:
    """Sends draws to a site and asserts what each must keep; keeps the worst figures seen."""

    site: Site
    worst: dict[str, float] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    trace: list[tuple[Draw, list[Answer]]] = field(default_factory=list)  # every draw judged, with its answers

    def __post_init__(self) -> None:
        self.rss = RssPeak(self.site.api.proc.proc.pid)
        self.rss.start()
        for lane in ("forecast", "figure"):  # warm: the probe model loaded, matplotlib imported
            wait_until(lambda lane=lane: self._probe(lane)[0] == 200, timeout=60, interval=0.5)
        self.baseline = self.rss.reset()

    def _probe(self, lane: str) -> tuple[int, float]:
        model = self.site.models["probe"]
        with self.site.client() as http:
            began = time.monotonic()
            if lane == "forecast":
                r = http.post(f"/v1/models/{model}/forecast", json={"start": 50.0, "horizon": 5})
            else:
                r = http.get(f"/v1/models/{model}/forecast.png", params={"start": 50.0, "horizon": 5})
            return r.status_code, time.monotonic() - began

    def probe(self, lane: str) -> float:
        """A known-good forecast or figure: 200 within its timeout, or the assertion says what came."""
        status, took = self._probe(lane)
        assert status == 200 and took <= TIMEOUT_S + 0.5, f"{lane} probe: {status} in {took:.2f} s"
        self._note("probe_s", took)
        return took

    def _note(self, name: str, value: float) -> None:
        self.worst[name] = max(self.worst.get(name, 0.0), value)

    def run(self, draw: Draw) -> None:
        """Send `draw`, probe the other lane meanwhile and both lanes after, and check every answer."""
        before = self.rss.reset()
        out: list[list[Answer]] = []
        sender = threading.Thread(target=lambda: out.append(send(self.site, draw)))
        sender.start()
        time.sleep(0.2)
        self.probe(_other_lane(draw))
        sender.join(timeout=4 * LIMIT_S)
        assert out, f"{draw}: the sender failed or hung (see the error above)"
        self.trace.append((draw, out[0]))
        growth, drift = (self.rss.peak - before) / 2**20, (self.rss.now - self.baseline) / 2**20
        for answer in out[0]:
            self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
            self._note("answer_s", answer.seconds)
            self._note("answer_kb", answer.size / 1024)
            assert answer.status and answer.seconds <= answer.limit_s, f"{draw}: no answer within {answer}"
            assert answer.status < 500 or answer.status in (503, 507), f"{draw}: {answer}"
            assert answer.size <= answer.limit_size, f"{draw}: an answer too large: {answer}"
        self._note("rss_growth_mb", growth)
        self._note("rss_drift_mb", drift)
        assert growth <= RSS_BOUND_MB and drift <= RSS_BOUND_MB, f"{draw}: API RSS +{growth:.0f} MB ({drift:.0f})"
        for lane in ("forecast", "figure"):
            self.probe(lane)

    def stop(self) -> None:
        self.rss.stopped.set()
