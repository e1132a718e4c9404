"""What the service adds to training: time from POST to `running`, and per-epoch overhead.

Runs the same LSTM (tutorial data, hidden 20, batch 500, passes of
--micro-batch-size rows) for --epochs epochs (a) in-process through core, set
up as a worker process is, and (b) as a job through a real stack (private
Redis, one worker process, the API over HTTP). Last line:
overhead_ms_per_epoch=.. queue_to_running_ms_p50=.. core_ms_per_epoch=.. service_ms_per_epoch=..
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime

import torch
from _stack import stack

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core.device import keep_freed_memory
from rnncast.core.train import train


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--cell", default="LSTM")
    parser.add_argument("--starts", type=int, default=10, help="jobs timed from POST to running")
    parser.add_argument("--micro-batch-size", type=int, default=250, help="the service's default for LSTM")
    args = parser.parse_args()

    torch.set_num_threads(1)  # as the workers do
    torch.set_flush_denormal(True)
    keep_freed_memory()
    train_cfg = TrainOptions(epochs=args.epochs, checkpoint_every=10, micro_batch_size=args.micro_batch_size)

    def core_run() -> float:
        t0 = time.perf_counter()
        train(ModelOptions(cell=args.cell), SineData(), train_cfg)
        return time.perf_counter() - t0

    core_runs = [core_run()]
    print(f"core_s={core_runs[0]:.2f} epochs={args.epochs}", flush=True)

    with stack() as s:
        http = s.api.http
        tiny = {"cell": "RNN", "epochs": 1, "hidden_size": 2, "data": {"points": 100}, "sequence_length": 5}
        s.api.wait_job(http.post("/v1/jobs", json=tiny).json()["id"])  # warm the worker
        latencies = []
        for _ in range(args.starts):
            posted = time.perf_counter()
            job = http.post("/v1/jobs", json=tiny).json()
            while http.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued":
                time.sleep(0.002)
            latencies.append((time.perf_counter() - posted) * 1000)
            s.api.wait_job(job["id"])
        body = {"cell": args.cell, "epochs": args.epochs, "checkpoint_every": 10,
                "micro_batch_size": args.micro_batch_size}
        job = http.post("/v1/jobs", json=body).json()
        done = s.api.wait_job(job["id"], timeout=3600)
        service_s = _ts(done["finished_at"]) - _ts(done["started_at"])
    core_runs.append(core_run())  # before and after: the faster one, as for the service's single run
    core_s = min(core_runs)
    core_ms, service_ms = core_s / args.epochs * 1000, service_s / args.epochs * 1000
    print(f"queue_to_running_ms={[round(v, 1) for v in latencies]}")
    print(
        f"overhead_ms_per_epoch={service_ms - core_ms:.2f} "
        f"queue_to_running_ms_p50={statistics.median(latencies):.1f} "
        f"core_ms_per_epoch={core_ms:.2f} service_ms_per_epoch={service_ms:.2f} "
        f"overhead_ratio={service_ms / core_ms:.3f}"
    )


if __name__ == "__main__":
    main()
