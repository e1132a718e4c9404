"""What idle uploads, a 422 of a million errors and a frozen S3 cost the API (issue 27, mechanisms 4, 5, 7).

A private Redis, SeaweedFS and the API (no worker: nothing here trains). Prints key=value figures:
idle_uploads=16 declared_mb_each=64 idle_rss_growth_mb=<n>   (16 connections that declare 64 MiB and send 20 bytes)
nulls_422_s=<n> nulls_422_bytes=<n>                          (a 6 MB dataset JSON of 1,000,000 nulls)
frozen_store_submit_s=<n> frozen_store_reads_503=<k>/48 frozen_store_slowest_read_s=<n>
                                                              (48 value reads on a SIGSTOPped S3, a job posted beside)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from tests.support import TINY, Api, RedisServer, S3Server

MiB = 2**20
EXTRA = {"RNNCAST_MAX_CONCURRENT_UPLOADS": "16"}


def idle_uploads(api: Api, count: int = 16) -> float:
    rss = psutil.Process(api.proc.proc.pid)
    before = rss.memory_info().rss
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", api.port), timeout=20)
        sock.sendall(f"POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {64 * MiB - 1}\r\n\r\n{{\"name\": \"idle\", ".encode())
        socks.append(sock)
    time.sleep(2)
    grown = (rss.memory_info().rss - before) / MiB
    for sock in socks:
        sock.close()
    return grown


def nulls(api: Api) -> tuple[float, int]:
    body = json.dumps({"name": "nulls", "values": [None] * 1_000_000})
    began = time.monotonic()
    r = api.http.post("/v1/datasets", content=body, headers={"Content-Type": "application/json"}, timeout=600)
    return time.monotonic() - began, len(r.content)


def frozen_store(api: Api, s3: S3Server) -> tuple[float, int, float]:
    dataset = api.http.post("/v1/datasets", json={"name": "s", "values": [1.0, 2.0, 3.0, 4.0, 5.0]}).json()
    assert s3.proc is not None
    os.killpg(s3.proc.pid, signal.SIGSTOP)
    try:
        def read(_: int) -> tuple[int, float]:
            began = time.monotonic()
            code = httpx.get(f"{api.url}/v1/datasets/{dataset['id']}/values", timeout=600).status_code
            return code, time.monotonic() - began

        with ThreadPoolExecutor(48) as pool:
            reads = pool.map(read, range(48))
            time.sleep(0.5)
            began = time.monotonic()
            api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}, timeout=600)
            submit = time.monotonic() - began
            answers = list(reads)
    finally:
        os.killpg(s3.proc.pid, signal.SIGCONT)
    return submit, sum(code == 503 for code, _ in answers), max(took for _, took in answers)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rnncast-bench-") as tmp:
        root = Path(tmp)
        s3 = S3Server(root / "s3").start()
        redis = RedisServer(root / "redis").start()
        api = Api(redis.url, root / "api", root / "api.log", extra=EXTRA | s3.env(f"s3://{s3.bucket()}"))
        try:
            print(f"idle_uploads=16 declared_mb_each=64 idle_rss_growth_mb={idle_uploads(api):.0f}")
            took, size = nulls(api)
            print(f"nulls_422_s={took:.2f} nulls_422_bytes={size}")
            submit, refused, slowest = frozen_store(api, s3)
            print(f"frozen_store_submit_s={submit:.2f} frozen_store_reads_503={refused}/48 "
                  f"frozen_store_slowest_read_s={slowest:.1f}")
        finally:
            api.stop()
            redis.stop()
            s3.stop()


if __name__ == "__main__":
    main()
