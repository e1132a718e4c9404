"""What an unauthenticated client costs the API: 4 MB POST bodies vs bodiless GETs, both refused (401).

Starts a private Redis and `rnncast api` with an API key, sends N rejected
`POST /v1/jobs` with a 4 MB JSON body (an array of empty objects) and N
rejected `GET /v1/jobs`, one at a time, and reads the API process's CPU time
(user + system, psutil) around each series. The key is checked from the
headers before any body is read, so a large body should cost about what a
bodiless request does. Last line:
reject_cost_ratio=<CPU s per rejected 4 MB POST / per rejected GET> post_cpu_ms=.. get_cpu_ms=..
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import Api, RedisServer


def api_cpu_s(api: Api) -> float:
    """CPU seconds of the API process and its children (uvicorn runs in the child of `rnncast api`)."""
    root = psutil.Process(api.proc.proc.pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def series(api: Api, client: httpx.Client, n: int, method: str, body: bytes | None) -> tuple[float, float]:
    """(API CPU seconds per request, wall seconds per request) for `n` refused requests."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    cpu0, t0 = api_cpu_s(api), time.perf_counter()
    for _ in range(n):
        r = client.request(method, "/v1/jobs", content=body, headers=headers)
        assert r.status_code == 401, (r.status_code, r.text[:200])
    time.sleep(0.2)  # let the server finish closing connections before reading its CPU time
    return (api_cpu_s(api) - cpu0) / n, (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="50 requests per series")
    args = parser.parse_args()
    n = 50 if args.quick else args.requests
    body = b"[" + b",".join([b"{}"] * (4 * 1024 * 1024 // 3 - 2)) + b"]"
    with tempfile.TemporaryDirectory(prefix="rnncast-bench-") as tmp:
        root = Path(tmp)
        server = RedisServer(root / "redis").start()
        api = Api(server.url, root / "data", root / "api.log", extra={"RNNCAST_API_KEY": "bench-key-bench-key"})
        try:
            with httpx.Client(base_url=api.url, timeout=30) as client:
                series(api, client, 10, "GET", None)  # warm up
                get_cpu, get_wall = series(api, client, n, "GET", None)
                post_cpu, post_wall = series(api, client, n, "POST", body)
        finally:
            api.stop()
            server.stop()
    print(f"body_bytes={len(body)} requests={n} get_wall_ms={get_wall * 1000:.2f} post_wall_ms={post_wall * 1000:.2f}")
    print(f"reject_cost_ratio={post_cpu / get_cpu:.2f} post_cpu_ms={post_cpu * 1000:.2f} "
          f"get_cpu_ms={get_cpu * 1000:.2f}")


if __name__ == "__main__":
    main()
