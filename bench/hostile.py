"""Every abusive request of issues #22 and #27, once each, against a fresh stack: is each refused or bounded, and
what does it cost the API's event loop, the processes' memory and the worker's lanes?

A private Redis, a training worker, a predict worker and the API (with an API key and --root-path /api, as
behind a proxy; small quotas and lanes so those limits can be reached). A probe process times GET
/healthz every few milliseconds on its own connection: its slowest answer during a request, less its usual one, is
the event loop's stall. A sampler reads the RSS of the API and of every worker process every 10 ms: the
growth is the peak during the request less the value before it. A lane probe asks a tiny model for a forecast
every 0.1 s and a figure every 0.5 s: the longest any of them sent during a request waited for its lane (to a
200, past any 503) is how long that request held a lane thread. Last lines:
worst_loop_stall_ms=<n> worst_rss_growth_mb=<n> worst_lane_held_s=<n> refused=<k>/<total>
(goals: every request refused or bounded, stall <= 50 ms, growth <= 100 MB, lane held <= RNNCAST_FORECAST_TIMEOUT).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _hostile_probes import LaneProbe, Probe, Sampler, idle_uploads
from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from rnncast.common.rollout_work import forecast_work
from tests.support import TINY, Api, RedisServer, start_worker, wait_until

KEY = "hostile-bench-key-0123456789"
AUTH = {"X-API-Key": KEY}
EXTRA = {"RNNCAST_API_KEY": KEY, "RNNCAST_MAX_DATASETS": "3", "RNNCAST_MAX_QUEUED_FORECASTS": "8",
         "RNNCAST_MAX_QUEUED_FIGURES": "16", "RNNCAST_BODY_GRACE_S": "2"}
TIMEOUT_S = 30.0  # RNNCAST_FORECAST_TIMEOUT's default
WORK = 1e11  # RNNCAST_MAX_FORECAST_WORK's default
MiB = 2**20
THIN = {"cell": "RNN", "hidden_size": 1, "num_layers": 1, "sequence_length": 20_000, "epochs": 1, "batch_size": 4096,
        "lr": 0.01, "data": {"points": 20_400, "stop": 400.0}}


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


def edge_horizon(params: dict[str, Any]) -> int:
    """The longest horizon a forecast on a model trained with `params` may ask within RNNCAST_MAX_FORECAST_WORK."""
    lo, hi = 1, 1_000_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        ok = forecast_work(1, params["sequence_length"], mid, params["hidden_size"], params["num_layers"],
                           params["cell"]) <= WORK
        lo, hi = (mid, hi) if ok else (lo, mid - 1)
    return lo


def issue_27(http: httpx.Client, port: int, thin: str, study_model: str) -> list[tuple[str, Callable[[], Any]]]:
    """Issue 27's abusive requests; each returns (what came, whether that is refused or bounded)."""
    edge = edge_horizon(THIN)

    def timed(method: str, path: str, **kw: Any) -> tuple[int, float]:
        began = time.monotonic()
        code = http.request(method, path, headers=AUTH, **kw).status_code
        return code, time.monotonic() - began

    def served(code: int, took: float) -> tuple[str, bool]:
        return f"{code} in {took:.1f} s", (400 <= code < 500) or (code in (200, 503) and took <= TIMEOUT_S + 1)

    def figure_beside() -> tuple[str, bool]:
        with ThreadPoolExecutor(1) as pool:
            long = pool.submit(timed, "POST", f"/v1/models/{thin}/forecast", json={"start": 40.0, "horizon": edge})
            time.sleep(0.3)
            code, took = timed("GET", f"/v1/models/{study_model}/forecast.png", params={"start": 40, "horizon": 50})
            long.result()
        return served(code, took)

    def nulls() -> int:
        return http.post("/v1/datasets", content=b'{"name": "n", "values": [' + b",".join([b"null"] * 1_000_000)
                         + b"]}", headers={**AUTH, "Content-Type": "application/json"}).status_code

    def quota_burst() -> tuple[str, bool]:
        def one(_: int) -> int:
            with httpx.Client(base_url=str(http.base_url), headers=AUTH, timeout=60) as c:
                return c.post("/v1/datasets", json={"name": "b", "values": [1.0, 2.0, 3.0]}).status_code

        for dataset in http.get("/v1/datasets", headers=AUTH).json()["data"]:  # the quota free again
            http.delete(f"/v1/datasets/{dataset['id']}", headers=AUTH)
        with ThreadPoolExecutor(30) as pool:
            codes = list(pool.map(one, range(30)))
        kept = http.get("/v1/datasets", headers=AUTH).json()["count"]
        return f"{codes.count(201)}x201 {codes.count(429)}x429, {kept} kept", kept <= 3

    def keys() -> tuple[str, bool]:
        wrong = [http.get("/v1/jobs", headers={"X-API-Key": f"wrong-{i:020d}"}).status_code for i in range(25)]
        right = http.get("/v1/jobs", headers=AUTH).status_code
        return f"{wrong[-1]}, then the right key {right}", right == 200

    return [
        ("27.4 16 idle uploads declaring 64 MiB each", lambda: idle_uploads(port, KEY, 16, 64 * MiB - 1)),
        ("27.4 an upload trickling a byte every 0.5 s", lambda: idle_uploads(port, KEY, 1, MiB, trickle_s=0.5)),
        ("27.5 dataset JSON of 1,000,000 nulls", nulls),
        ("27.1 RNN hidden 1, windows of 20,000: 10,000 steps", lambda: http.post(
            f"/v1/models/{thin}/forecast", json={"start": 40.0, "horizon": 10_000}, headers=AUTH).status_code),
        (f"27.1 the same at the work limit, {edge} steps", lambda: served(
            *timed("POST", f"/v1/models/{thin}/forecast", json={"start": 40.0, "horizon": edge}))),
        ("27.1 a figure while that forecast computes", figure_beside),
        ("27.2 30 uploads at once, 3 datasets allowed", quota_burst),
        ("27.3 25 wrong keys, then the right key", keys),
    ]


def refused_or_bounded(outcome: Any) -> bool:
    if isinstance(outcome, tuple):
        return bool(outcome[1])
    if isinstance(outcome, int):
        return 400 <= outcome < 500 or outcome == 507
    return "429" in outcome or "408" in outcome  # a burst: some turned away, the rest served; idle bodies cut off


def train(http: httpx.Client) -> tuple[str, str, str, str]:
    """(a study's first model, the study, a tiny GRU, a 1-unit RNN with windows of 20,000), trained."""
    body = {"cells": ["LSTM"], "seeds": [0, 1], "train": TINY | {"hidden_size": 64, "sequence_length": 400,
                                                                "data": {"points": 800, "stop": 400}},
            "forecast": {"start": 40.0, "horizon": 10}}
    study = http.post("/v1/comparisons", json=body, headers=AUTH).json()["id"]
    jobs = [http.post("/v1/jobs", json=params, headers=AUTH).json()["id"] for params in ({"cell": "GRU", **TINY}, THIN)]
    wait_until(lambda: http.get(f"/v1/comparisons/{study}", headers=AUTH).json()["status"] != "running", timeout=300)
    for job in jobs:
        wait_until(lambda job=job: http.get(f"/v1/jobs/{job}", headers=AUTH).json()["status"] == "succeeded",
                   timeout=300)
    model = http.get(f"/v1/comparisons/{study}", headers=AUTH).json()["runs"][0]["job_id"]
    return model, study, jobs[0], jobs[1]


def measure(todo: list[tuple[str, Callable[[], Any]]], probe: Probe, lanes: LaneProbe, sampler: Sampler) -> str:
    """Send each request, print its row; the summary line."""
    usual = statistics.median(lat for _, lat in probe.samples())
    worst_stall = worst_rss = worst_held = 0.0
    refused = 0
    print(f"{'request':<62} {'status':>22} {'stall ms':>9} {'RSS MB':>7} {'lane s':>7}")
    for name, send in todo:
        time.sleep(0.3)
        began, t0 = time.monotonic(), time.perf_counter()
        outcome = send()
        ended, t1 = time.monotonic(), time.perf_counter()
        lanes.settle(ended)
        stall = max(0.0, probe.worst(began, ended) - usual) * 1e3
        growth = sampler.growth(t0, t1) / 2**20
        held = lanes.held(began, ended)
        ok = refused_or_bounded(outcome) or name.startswith("low: CSV header")  # stored, name cut
        refused += ok
        worst_stall, worst_rss, worst_held = max(worst_stall, stall), max(worst_rss, growth), max(worst_held, held)
        shown = outcome[0] if isinstance(outcome, tuple) else outcome
        print(f"{name:<62} {shown!s:>22} {stall:>9.1f} {growth:>7.1f} {held:>7.2f}{'' if ok else '  NOT REFUSED'}")
    print(f"probe's usual answer {usual * 1e3:.2f} ms")
    return (f"worst_loop_stall_ms={worst_stall:.0f} worst_rss_growth_mb={worst_rss:.0f} "
            f"worst_lane_held_s={worst_held:.1f} refused={refused}/{len(todo)}")


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
            model, study, tiny, thin = train(http)
            probe = Probe(api.url, root / "probe.log")
            lanes = LaneProbe(api.url, KEY, tiny, root / "lanes.log")
            sampler = Sampler([api.proc.proc.pid, *(w.proc.pid for w in workers)])
            sampler.start()
            try:
                lanes.settle(time.monotonic())
                time.sleep(2.0)
                todo = attacks(http, api.url, model, study) + issue_27(http, api.port, thin, model)
                summary = measure(todo, probe, lanes, sampler)
            finally:
                probe.stop()
                lanes.stop()
                sampler.stopped.set()
        finally:
            api.stop()
            for worker in workers:
                worker.stop()
            redis.stop()
    print(summary)


if __name__ == "__main__":
    main()
