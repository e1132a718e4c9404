"""Forecast serving against what a user would deploy instead: LitServe, and the bare HTTP ceiling.

One run, one machine, the same 3-epoch LSTM checkpoint, horizon 100, distinct
starts, the same closed-loop aiohttp load generator (bench/_load.py) at 1 and
--clients clients:
- rnncast as `rnncast up` runs it (API process(es) + a threads-pool predict worker + Redis);
- LitServe (bench/litserve_peer.py): one CPU inference worker, max_batch_size 64,
  batch_timeout 5 ms, the rollout one forward of the whole (B, T, 1) window per step;
- the ceiling (bench/bare_forecast.py): a bare FastAPI endpoint with the same
  body validation answering a fixed document of the same size.
CPU per 1000 forecasts is the servers' own processes' CPU time (psutil, children
included: for rnncast the API, the predict worker and Redis), so the load
generator's share does not blur it. LitServe's answers are checked against
rnncast's to 1e-5 first.
Last line: vs_litserve=<rps ratio at --clients> p99_ratio=.. single_p50_ratio=.. cpu_ratio=.. ceiling_ratio=..
Usage: python bench/forecast_peer.py [--clients 64] [--seconds 15] [--quick] [--forecast-threads N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from _load import Load, run_load
from _stack import cpu_seconds, server, stack, tutorial_lstm
from forecast_load import start_of

from tests.support import free_port

HERE = Path(__file__).resolve().parent
HORIZON = 100
BATCH_HEADER = "X-Rnncast-Batch"  # rnncast's: how many requests shared the rollout (mean_batch, per request)


def body(i: int) -> dict[str, float]:
    return {"start": start_of(i), "horizon": HORIZON}


@dataclass
class Measured:
    load: Load
    cpu_per_1000: float
    parts: dict[str, float]  # each server process's share of cpu_per_1000, by name

    def line(self, name: str) -> str:
        parts = "".join(f" {part}={value:.2f}" for part, value in self.parts.items()) if len(self.parts) > 1 else ""
        batches = [int(b) for b in self.load.headers if b.isdigit()]
        batch = f" mean_batch={sum(batches) / len(batches):.1f}" if batches else ""
        return (f"{name}: rps={self.load.rps:.0f} p50_ms={self.load.pct(0.5):.1f} p99_ms={self.load.pct(0.99):.1f} "
                f"cpu_s_per_1000={self.cpu_per_1000:.2f}{parts}{batch} requests={self.load.requests} "
                f"errors={self.load.errors}")


def measure(url: str, pids: Callable[[], dict[str, int]], clients: int, seconds: float) -> Measured:
    run_load(url, "POST", body, min(clients, 8), 1.0)  # warm up
    before = {name: cpu_seconds([pid]) for name, pid in pids().items()}
    load = run_load(url, "POST", body, clients, seconds, header=BATCH_HEADER)
    used = {name: cpu_seconds([pid]) - before[name] for name, pid in pids().items()}
    per = {name: 1000 * value / max(load.requests, 1) for name, value in used.items()}
    return Measured(load, sum(per.values()), per)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--quick", action="store_true", help="5 s per measurement")
    parser.add_argument("--forecast-threads", type=int, help="the predict worker's RNNCAST_FORECAST_THREADS "
                        "(default: the setting's default)")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    results: dict[str, Measured] = {}
    threads = {"RNNCAST_FORECAST_THREADS": str(args.forecast_threads)} if args.forecast_threads else None
    with stack(predict_threads=4, extra=threads) as s:
        model_id = tutorial_lstm(s)
        model_dir = s.data_dir / "models" / model_id
        url = f"{s.api.url}/v1/models/{model_id}/forecast"

        def rn_pids() -> dict[str, int]:
            return {"api": s.api.proc.proc.pid, "worker": s.workers[-1].proc.pid, "redis": s.redis.proc.pid}

        reference = {i: httpx.post(url, json=body(i)).json() for i in range(5)}
        for clients in (1, args.clients):
            results[f"rnncast_{clients}"] = measure(url, rn_pids, clients, seconds)

        port = free_port()
        peer_url = f"http://127.0.0.1:{port}/forecast"
        with server([str(HERE / "litserve_peer.py"), str(model_dir), str(port)], peer_url, body(0)) as peer:
            for i, want in reference.items():
                got = httpx.post(peer_url, json=body(i)).json()
                np.testing.assert_allclose(got["y"], want["y"], atol=1e-5)
                np.testing.assert_allclose(got["exact"], want["exact"], atol=1e-12)
            for clients in (1, args.clients):
                results[f"litserve_{clients}"] = measure(peer_url, lambda: {"litserve": peer.pid}, clients, seconds)

        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(reference[0], fh)
        port = free_port()
        bare_url = f"http://127.0.0.1:{port}/v1/models/{model_id}/forecast"
        with server([str(HERE / "bare_forecast.py"), fh.name, str(port)], bare_url, body(0)) as bare:
            for clients in (1, args.clients):
                results[f"ceiling_{clients}"] = measure(bare_url, lambda: {"bare": bare.pid}, clients, seconds)
        Path(fh.name).unlink()

    for name, m in results.items():
        print(m.line(name))
    n = args.clients
    rn, ls, ceil = results[f"rnncast_{n}"], results[f"litserve_{n}"], results[f"ceiling_{n}"]
    rn1, ls1 = results["rnncast_1"], results["litserve_1"]
    print(f"vs_litserve={rn.load.rps / ls.load.rps:.2f} p99_ratio={rn.load.pct(0.99) / ls.load.pct(0.99):.2f} "
          f"single_p50_ratio={rn1.load.pct(0.5) / ls1.load.pct(0.5):.2f} "
          f"cpu_ratio={rn.cpu_per_1000 / ls.cpu_per_1000:.2f} ceiling_ratio={rn.load.rps / ceil.load.rps:.2f}")


if __name__ == "__main__":
    main()
