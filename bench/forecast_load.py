"""Concurrent forecasts: a naive server against rnncast's batching forecast endpoint.

Both serve the same LSTM checkpoint over HTTP, horizon 100, windows from
distinct starts, at 1 and --clients concurrent clients (closed loop). rnncast
runs as `rnncast up` does: the API and a predict worker (forecast lane, batching).
Last line: forecast_speedup=<rnncast req/s / naive req/s at --clients> p50_ms=.. p99_ms=..
single_p50_ms=.. bare_compute_ms=..
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import torch
from _load import run_load
from _stack import stack, tutorial_lstm

from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint
from rnncast.core.forecast import forecast_from_starts
from tests.support import free_port, wait_until

HERE = Path(__file__).resolve().parent
HORIZON = 100


def start_of(i: int) -> float:
    return 100.0 + (i % 997) * 0.37


def bare_ms(model_dir: Path, n: int = 50) -> float:
    torch.set_num_threads(1)
    ckpt = load_checkpoint(LocalStore(model_dir), "model")
    model = ckpt.build_model()
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        forecast_from_starts(model, ckpt.data, ckpt.train.sequence_length, [start_of(i)], HORIZON)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--quick", action="store_true", help="5 s per measurement")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    with stack(predict_threads=4) as s:
        model_id = tutorial_lstm(s)
        model_dir = s.data_dir / "models" / model_id
        url = f"{s.api.url}/v1/models/{model_id}/forecast"
        run_load(url, "POST", lambda i: {"start": start_of(i), "horizon": HORIZON}, 4, 1.0)  # warm up
        rn1 = run_load(url, "POST", lambda i: {"start": start_of(i), "horizon": HORIZON}, 1, seconds)
        rnn = run_load(url, "POST", lambda i: {"start": start_of(i), "horizon": HORIZON}, args.clients, seconds)
        bare = bare_ms(model_dir)
        port = free_port()
        naive = subprocess.Popen([sys.executable, str(HERE / "naive_server.py"), str(model_dir), str(port)])
        try:
            naive_url = f"http://127.0.0.1:{port}/forecast"
            wait_until(lambda: _answers(naive_url), timeout=60, interval=0.2)
            nv1 = run_load(naive_url, "POST", lambda i: {"start": start_of(i), "horizon": HORIZON}, 1, seconds)
            nvn = run_load(naive_url, "POST", lambda i: {"start": start_of(i), "horizon": HORIZON}, args.clients,
                           seconds)
        finally:
            naive.terminate()
            naive.wait()
    for name, load in [("rnncast_1", rn1), (f"rnncast_{args.clients}", rnn), ("naive_1", nv1),
                       (f"naive_{args.clients}", nvn)]:
        print(f"{name}: rps={load.rps:.1f} p50_ms={load.pct(0.5):.1f} p99_ms={load.pct(0.99):.1f} "
              f"requests={load.requests} errors={load.errors}")
    print(f"forecast_speedup={rnn.rps / nvn.rps:.2f} p50_ms={rnn.pct(0.5):.1f} p99_ms={rnn.pct(0.99):.1f} "
          f"single_p50_ms={rn1.pct(0.5):.1f} bare_compute_ms={bare:.1f}")


def _answers(url: str) -> bool:
    try:
        return httpx.post(url, json={"start": 1.0, "horizon": 1}, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
