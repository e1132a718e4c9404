"""Latency of a horizon-100 forecast over HTTP next to the bare in-process compute.

Trains a small LSTM (tutorial data, hidden 20) through a real stack, then
times --n sequential `POST /v1/models/{id}/forecast {"start": 123, "horizon":
100}` requests and the same forecast computed in-process from the same
checkpoint. Last line: http_p50_ms=.. bare_p50_ms=.. ratio=..
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _stack import stack

from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint
from rnncast.core.forecast import forecast_from_starts


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as the workers do
    with stack(predict_threads=4) as s:
        http = s.api.http
        job = http.post("/v1/jobs", json={"cell": "LSTM", "epochs": 5}).json()
        model_id = s.api.wait_job(job["id"], timeout=600)["model_id"]
        body = {"start": 123.0, "horizon": args.horizon}
        http.post(f"/v1/models/{model_id}/forecast", json=body)  # load into the worker's cache
        http_ms = []
        for _ in range(args.n):
            t0 = time.perf_counter()
            r = http.post(f"/v1/models/{model_id}/forecast", json=body)
            http_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text
        ckpt = load_checkpoint(LocalStore(s.data_dir / "models" / model_id), "model")
    model = ckpt.build_model()
    bare_ms = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        forecast_from_starts(model, ckpt.data, ckpt.train.sequence_length, [123.0], args.horizon)
        bare_ms.append((time.perf_counter() - t0) * 1000)
    hp50, bp50 = statistics.median(http_ms), statistics.median(bare_ms)
    print(f"http_p99_ms={p(http_ms, 0.99):.2f} bare_p99_ms={p(bare_ms, 0.99):.2f} n={args.n}")
    print(f"http_p50_ms={hp50:.2f} bare_p50_ms={bp50:.2f} ratio={hp50 / bp50:.2f} overhead_ms={hp50 - bp50:.2f}")


if __name__ == "__main__":
    main()
