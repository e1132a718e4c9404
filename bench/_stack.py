"""A private stack for benchmarks: Redis, worker process(es) and the API, on free ports."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import Api, Proc, RedisServer, start_worker, wait_until, wait_worker_ready


@dataclass
class BenchStack:
    redis: RedisServer
    api: Api
    workers: list[Proc]
    data_dir: Path


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and all their children, so far."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


@contextmanager
def stack(
    concurrency: int = 1, workers: int = 1, extra: dict[str, str] | None = None, predict_threads: int = 0,
) -> Iterator[BenchStack]:
    """Start everything, yield it, stop everything (logs under a temp dir).

    With `predict_threads`, forecasts get their own threads-pool worker (as
    `rnncast up` runs them) and the other workers consume `train` only.
    """
    with tempfile.TemporaryDirectory(prefix="rnncast-bench-") as tmp:
        root = Path(tmp)
        server = RedisServer(root / "redis").start()
        procs: list[Proc] = []
        api = None
        try:
            queues = "train" if predict_threads else "train,predict"
            for i in range(workers):
                procs.append(start_worker(server.url, root / "data", root / f"worker{i}.log",
                                          concurrency=concurrency, extra=extra, queues=queues))
            if predict_threads:
                procs.append(start_worker(server.url, root / "data", root / "predict.log", queues="predict",
                                          concurrency=predict_threads, pool="threads", extra=extra))
            api = Api(server.url, root / "data", root / "api.log", extra=extra)
            wait_worker_ready(server.client())
            yield BenchStack(server, api, procs, root / "data")
        finally:
            if api is not None:
                api.stop()
            for proc in procs:
                proc.stop()
            server.stop()


def tutorial_lstm(s: BenchStack) -> str:
    """The id of a freshly trained tutorial LSTM (hidden 20, windows of 80; 3 epochs: what it predicts does not
    matter to a serving bench)."""
    job = s.api.http.post("/v1/jobs", json={"cell": "LSTM", "epochs": 3}).json()
    return str(s.api.wait_job(job["id"], timeout=600)["model_id"])


def study_body(cells: str, seeds: str, epochs: int) -> dict[str, Any]:
    """A comparison of `cells` over `seeds` with the tutorial's defaults but `epochs`."""
    return {"cells": cells.split(","), "seeds": [int(x) for x in seeds.split(",")],
            "train": {"epochs": epochs}, "forecast": {"start": 123, "horizon": 100}}


def run_comparison(http: httpx.Client, body: dict[str, Any], poll: float = 0.2) -> tuple[dict[str, Any], float]:
    """POST a comparison and wait for its end: (final view, seconds from the POST)."""
    t0 = time.perf_counter()
    study = http.post("/v1/comparisons", json=body).json()
    while (view := http.get(f"/v1/comparisons/{study['id']}").json())["status"] == "running":
        time.sleep(poll)
    return view, time.perf_counter() - t0


@contextmanager
def server(args: list[str], url: str, probe: dict) -> Iterator[subprocess.Popen[bytes]]:
    """`python args...` (a peer or a bare server), once a POST of `probe` to `url` answers 200; stopped after,
    with its children."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        try:  # a loaded machine starts LitServe's processes slowly
            wait_until(lambda: _answers(url, probe) or proc.poll() is not None, timeout=300, interval=0.3)
            if proc.poll() is not None:
                raise AssertionError("exited")
        except AssertionError:
            log.seek(0)
            raise AssertionError(f"{args[0]} did not answer:\n{log.read().decode(errors='replace')[-3000:]}") from None
        yield proc
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.terminate()
        proc.terminate()
        proc.wait()
        log.close()


def _answers(url: str, probe: dict) -> bool:
    try:
        return httpx.post(url, json=probe, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
