"""Quotas taken at admission: do sequential jobs and simultaneous uploads stay within them, and what does the
admitting script cost Redis when the accounts are full?

Starts a private Redis and the API (no worker: jobs stay queued). Submits 10
jobs one after another under RNNCAST_MAX_MODEL_BYTES of 3.5 jobs' estimated
models, 30 simultaneous uploads under RNNCAST_MAX_DATASETS=5, then times job
admission (Redis's own time in the admitting script, `INFO commandstats`,
median) with an empty models account and with `--models` models in it: the
script reads the account's kept total, so the two should be alike. Last line:
jobs_admitted=3/10 datasets_kept=5/30 admit_script_us_empty=.. admit_script_us_full=.. models=..
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _stack import Api, RedisServer

from rnncast.common.defaults import model_bytes
from rnncast.common.store import Keys

JOB = {"cell": "GRU", "hidden_size": 4, "epochs": 1, "batch_size": 64, "sequence_length": 10,
       "data": {"points": 200, "stop": 100}}
VALUES = [float(i % 9) for i in range(50)]


def script_us(r) -> float:  # type: ignore[no-untyped-def]
    """Redis's microseconds in EVALSHA since the last CONFIG RESETSTAT."""
    return float(r.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0.0))


def admit_cost(api: Api, r, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median over `n` jobs (each then cancelled and deleted): Redis's time in the admitting script (the one
    script a POST /v1/jobs runs), and the client's ms for the POST."""
    redis_us, client_ms = [], []
    for _ in range(n):
        r.config_resetstat()
        t0 = time.perf_counter()
        job = api.http.post("/v1/jobs", json=JOB).json()
        client_ms.append((time.perf_counter() - t0) * 1000)
        redis_us.append(script_us(r))
        api.http.post(f"/v1/jobs/{job['id']}/cancel")
        api.http.delete(f"/v1/jobs/{job['id']}")
    return statistics.median(redis_us), statistics.median(client_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=10_000, help="models in the account for the cost run")
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rnncast-bench-") as tmp:
        root = Path(tmp)
        server = RedisServer(root / "redis").start()
        r = server.client()
        probe = Api(server.url, root / "data", root / "probe.log", extra={"RNNCAST_MAX_MODELS": str(10 * args.models)})
        try:
            job = probe.http.post("/v1/jobs", json=JOB).json()
            one = model_bytes(job["params"])
            probe.http.post(f"/v1/jobs/{job['id']}/cancel")
            probe.http.delete(f"/v1/jobs/{job['id']}")
            empty_us, empty_ms = admit_cost(probe, r, args.samples)
            r.zadd(Keys.models, {f"{i:032x}": i for i in range(args.models)})
            r.hset(Keys.model_bytes, mapping={f"{i:032x}": 100_000 for i in range(args.models)})
            r.hdel(Keys.quota_totals, Keys.model_bytes)  # entered behind the scripts' back: counted once, anew
            full_us, full_ms = admit_cost(probe, r, args.samples)
            r.delete(Keys.models, Keys.model_bytes)
            r.hdel(Keys.quota_totals, Keys.model_bytes)
        finally:
            probe.stop()
        limited = Api(server.url, root / "data", root / "api.log",
                      extra={"RNNCAST_MAX_MODEL_BYTES": str(3 * one + one // 2), "RNNCAST_MAX_DATASETS": "5"})
        try:
            admitted = sum(limited.http.post("/v1/jobs", json=JOB).status_code == 202 for _ in range(10))
            with httpx.Client(base_url=limited.url, timeout=60) as http, ThreadPoolExecutor(30) as pool:
                codes = list(pool.map(lambda _: http.post("/v1/datasets", json={"name": "b", "values": VALUES})
                                      .status_code, range(30)))
            kept = limited.http.get("/v1/datasets").json()["count"]
        finally:
            limited.stop()
            server.stop()
    print(f"uploads_201={codes.count(201)} uploads_429={codes.count(429)} admit_ms_empty={empty_ms:.1f} "
          f"admit_ms_full={full_ms:.1f}")
    print(f"jobs_admitted={admitted}/10 datasets_kept={kept}/30 admit_script_us_empty={empty_us:.0f} "
          f"admit_script_us_full={full_us:.0f} models={args.models}")


if __name__ == "__main__":
    main()
