"""Every abusive request of issue #22, once each, against a fresh stack: is each refused or bounded, and what
does it cost the API's event loop and the processes' memory?

A private Redis, a training worker, a predict worker and the API (with an API key and --root-path /api, as
behind a proxy; small quotas and lanes so those limits can be reached). A probe process times GET
/healthz every few milliseconds on its own connection: its slowest answer during a request, less its usual one, is
the event loop's stall. A sampler reads the RSS of the API and of every worker process every 10 ms: the
growth is the peak during the request less the value before it. Last line:
worst_loop_stall_ms=<n> worst_rss_growth_mb=<n> refused=<k>/<total>
(goals: every request refused or bounded, stall <= 50 ms, growth <= 100 MB).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from tests.support import TINY, Api, RedisServer, start_worker, wait_until

KEY = "hostile-bench-key-0123456789"
AUTH = {"X-API-Key": KEY}
EXTRA = {"RNNCAST_API_KEY": KEY, "RNNCAST_MAX_DATASETS": "3", "RNNCAST_MAX_QUEUED_FORECASTS": "8",
         "RNNCAST_MAX_QUEUED_FIGURES": "16"}


PROBE = """
import sys, time
import httpx
url, out = sys.argv[1:3]
with httpx.Client(base_url=url, timeout=30) as http, open(out, "w", buffering=1) as log:
    while True:
        began = time.monotonic()
        http.get("/healthz")
        log.write(f"{began} {time.monotonic() - began}\\n")
        time.sleep(0.003)
"""


class Probe:
    """GET /healthz in a loop, from a process of its own (this one's threads would share its GIL)."""

    def __init__(self, url: str, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE, url, str(log)])

    def samples(self) -> list[tuple[float, float]]:
        rows = (line.split() for line in self.log.read_text().splitlines())
        return [(float(r[0]), float(r[1])) for r in rows if len(r) == 2]

    def worst(self, since: float, until: float) -> float:
        return max((lat for t, lat in self.samples() if since <= t <= until), default=0.0)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Sampler(threading.Thread):
    """The RSS of each process of the stack, every 10 ms: the peak per process in a window."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.roots = [psutil.Process(p) for p in pids]
        self.samples: list[tuple[float, dict[int, int]]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            now, rss = time.perf_counter(), {}
            for root in self.roots:
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        rss[proc.pid] = proc.memory_info().rss
                    except psutil.Error:
                        pass
            self.samples.append((now, rss))
            time.sleep(0.01)

    def growth(self, since: float, until: float) -> float:
        before = next((r for t, r in reversed(self.samples) if t < since), {})
        during = [r for t, r in self.samples if since <= t <= until + 0.05]
        return max((r.get(pid, 0) - base for pid, base in before.items() for r in during), default=0.0)


BURST = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
import httpx
url, model, key = sys.argv[1:4]
def one(_):
    with httpx.Client(base_url=url, timeout=60) as c:
        return c.post(f"/v1/models/{model}/forecast", json={"start": 40.0, "horizon": 200},
                      headers={"X-API-Key": key}).status_code
with ThreadPoolExecutor(32) as pool:  # more at once than the lane holds, each slow to compute
    print(json.dumps(list(pool.map(one, range(200)))))
"""


def csv_rows(n: int) -> bytes:
    return b"v\n" + b"\n".join(b"%d.5" % i for i in range(n)) + b"\n"


def attacks(http: httpx.Client, url: str, model: str, study: str) -> list[tuple[str, Callable[[], Any]]]:
    """(name, the request); each returns a status (or a summary of statuses for a burst)."""
    def post(path: str, **kw: Any) -> int:
        return http.post(path, headers={**AUTH, **kw.pop("headers", {})}, **kw).status_code

    def get(path: str, **kw: Any) -> int:
        return http.get(path, headers={**AUTH, **kw.pop("headers", {})}, **kw).status_code

    ctx = json.dumps({"context": [0.5] * 1_000_001, "horizon": 5})
    over = json.dumps({"context": [0.5] * 10_001, "horizon": 5})
    huge_json = b'{"name": "h", "values": [' + b",".join([b"1.25"] * 12_000_000) + b"]}"
    huge_csv = csv_rows(6_000_000)

    def lane_burst() -> str:
        # In a process of its own: 32 client threads here would contend with the probe for this GIL.
        out = subprocess.run([sys.executable, "-c", BURST, url, model, KEY], capture_output=True, text=True,
                             timeout=600, check=True)
        codes = json.loads(out.stdout)
        return f"{codes.count(200)}x200 {codes.count(429)}x429"

    def wrong_keys() -> int:
        codes = [http.get("/v1/jobs", headers={"X-API-Key": f"guess-{i:020d}"}).status_code for i in range(25)]
        return codes[-1]

    def quota() -> int:
        codes = [post("/v1/datasets", json={"name": "q", "values": [1.0, 2.0, 3.0, 4.0]}) for _ in range(4)]
        return codes[-1]

    return [
        ("1 forecast body of 2 MB, 1,000,001 context values", lambda: post(
            f"/v1/models/{model}/forecast", content=ctx, headers={"Content-Type": "application/json"})),
        ("1 forecast with 10,001 context values (422 without the echo)", lambda: post(
            f"/v1/models/{model}/forecast", content=over, headers={"Content-Type": "application/json"})),
        ("1 dataset JSON of 60 MB, 12,000,000 values", lambda: post(
            "/v1/datasets", content=huge_json, headers={"Content-Type": "application/json"})),
        ("2 CSV upload of 50 MB, 6,000,000 rows", lambda: post(
            "/v1/datasets", content=huge_csv, headers={"Content-Type": "text/csv"})),
        ("2 CSV with a 200 kB field", lambda: post(
            "/v1/datasets", content=b"v\n1\n" + b"x" * 200_000 + b"\n", headers={"Content-Type": "text/csv"})),
        ("3 forecast of 10,000 steps on a model with windows of 400", lambda: post(
            f"/v1/models/{model}/forecast", json={"start": 40.0, "horizon": 10_000})),
        ("4 forecast.png of 10,000 steps", lambda: get(f"/v1/models/{model}/forecast.png?start=40&horizon=10000")),
        ("4 backtest: 200 origins x 10,000 steps", lambda: post(
            f"/v1/models/{model}/backtest", json={"origins": 200, "horizon": 10_000})),
        ("4 ensemble of 10,000 steps", lambda: post(f"/v1/comparisons/{study}/forecast",
                                                    json={"start": 40.0, "horizon": 10_000})),
        ("4 comparison forecasting 10,000 steps", lambda: post("/v1/comparisons", json={
            "cells": ["LSTM"], "train": TINY | {"hidden_size": 256, "sequence_length": 400},
            "forecast": {"start": 40.0, "horizon": 10_000}})),
        ("5 job of ~340 GB of activations", lambda: post("/v1/jobs", json={
            "cell": "LSTM", "hidden_size": 1024, "sequence_length": 2000, "batch_size": 2000,
            "micro_batch_size": 0, "epochs": 1, "data": {"points": 5000}})),
        ("6 /v1/jobs without the key under root_path /api", lambda: http.get("/v1/jobs").status_code),
        ("7 cross-site text/plain POST", lambda: post("/v1/jobs", content='{"cell": "GRU"}', headers={
            "Content-Type": "text/plain", "Origin": "http://evil.example"})),
        ("low: CSV header name of 100 kB", lambda: post(
            "/v1/datasets", content=b"c" * 100_000 + b"\n1\n2\n3\n", headers={"Content-Type": "text/csv"})),
        ("8 a dataset past RNNCAST_MAX_DATASETS", quota),
        ("11 200 forecasts, 32 at once, the lane capped at 8", lane_burst),
        ("low: stream token %C2%B2.x", lambda: http.get(f"/v1/jobs/{uuid.uuid4().hex}/events?token=%C2%B2.x")
         .status_code),
        ("low: stream token of 5,000 digits", lambda: http.get(
            f"/v1/jobs/{uuid.uuid4().hex}/events?token={'9' * 5000}.x").status_code),
        ("low: 25 wrong keys", wrong_keys),
    ]


def refused_or_bounded(outcome: Any) -> bool:
    if isinstance(outcome, int):
        return 400 <= outcome < 500 or outcome == 507
    return "429" in outcome  # a burst: some were turned away, the rest served


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rnncast-hostile-") as tmp:
        root = Path(tmp)
        redis = RedisServer(root / "redis").start()
        workers = [start_worker(redis.url, root / "data", root / "train.log", queues="train", extra=EXTRA),
                   start_worker(redis.url, root / "data", root / "predict.log", queues="predict", pool="threads",
                                concurrency=4, extra=EXTRA)]
        api = Api(redis.url, root / "data", root / "api.log", extra=EXTRA, args=("--root-path", "/api"))
        try:
            wait_until(lambda: redis.client().zcard("rnncast:workers") >= 2, timeout=60)
            http = httpx.Client(base_url=api.url, timeout=120)
            body = {"cells": ["LSTM"], "seeds": [0, 1], "train": TINY | {"hidden_size": 64, "sequence_length": 400,
                                                                        "data": {"points": 800, "stop": 400}},
                    "forecast": {"start": 40.0, "horizon": 10}}
            study = http.post("/v1/comparisons", json=body, headers=AUTH).json()["id"]
            wait_until(lambda: http.get(f"/v1/comparisons/{study}", headers=AUTH).json()["status"] != "running",
                       timeout=300)
            model = http.get(f"/v1/comparisons/{study}", headers=AUTH).json()["runs"][0]["job_id"]
            probe = Probe(api.url, root / "probe.log")
            sampler = Sampler([api.proc.proc.pid, *(w.proc.pid for w in workers)])
            sampler.start()
            time.sleep(2.0)
            usual = statistics.median(lat for _, lat in probe.samples())
            rows, worst_stall, worst_rss, refused = [], 0.0, 0.0, 0
            todo = attacks(http, api.url, model, study)
            print(f"{'request':<62} {'status':>14} {'stall ms':>9} {'RSS MB':>7}")
            for name, send in todo:
                time.sleep(0.3)
                began, t0 = time.monotonic(), time.perf_counter()
                outcome = send()
                ended, t1 = time.monotonic(), time.perf_counter()
                time.sleep(0.1)
                stall = max(0.0, probe.worst(began, ended) - usual) * 1e3
                growth = sampler.growth(t0, t1) / 2**20
                ok = refused_or_bounded(outcome) or name.startswith("low: CSV header")  # stored, name cut
                refused += ok
                worst_stall, worst_rss = max(worst_stall, stall), max(worst_rss, growth)
                rows.append(name)
                print(f"{name:<62} {outcome!s:>14} {stall:>9.1f} {growth:>7.1f}{'' if ok else '  NOT REFUSED'}")
            probe.stop()
            sampler.stopped.set()
        finally:
            api.stop()
            for worker in workers:
                worker.stop()
            redis.stop()
    print(f"probe's usual answer {usual * 1e3:.2f} ms")
    print(f"worst_loop_stall_ms={worst_stall:.0f} worst_rss_growth_mb={worst_rss:.0f} refused={refused}/{len(rows)}")


if __name__ == "__main__":
    main()
