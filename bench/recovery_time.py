"""How fast a job recovers from a SIGKILLed worker, and what it costs.

A private stack (RNNCAST_HEARTBEAT_TIMEOUT=--timeout, interval 1 s): a GRU job
with checkpoints every 20 epochs; the worker's process group is SIGKILLed
mid-way, a new worker is started at once. Last line: jobs=.. succeeded=..
lost=.. attempts=.. resumed_from_epoch=.. recover_s=<kill to running again>
total_s=<kill to succeeded>
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import time
from pathlib import Path

from _stack import stack  # noqa: F401  (puts the repo root on sys.path)

from tests.support import Api, RedisServer, start_worker, wait_until

JOB = {"cell": "GRU", "hidden_size": 8, "epochs": 400, "batch_size": 64, "lr": 0.01, "sequence_length": 20,
       "seed": 5, "checkpoint_every": 20, "data": {"points": 400, "stop": 200}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=int, default=10)
    args = parser.parse_args()
    extra = {"RNNCAST_HEARTBEAT_TIMEOUT": str(args.timeout), "RNNCAST_HEARTBEAT_INTERVAL": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = RedisServer(root / "redis", aof=True).start()
        api = Api(server.url, root / "data", root / "api.log", extra=extra)
        first = start_worker(server.url, root / "data", root / "w1.log", extra=extra)
        second = None
        try:
            job = api.http.post("/v1/jobs", json=JOB).json()

            def get() -> dict:
                return api.http.get(f"/v1/jobs/{job['id']}").json()

            wait_until(lambda: get()["progress"]["epoch"] >= 90, timeout=120)
            first.signal(signal.SIGKILL)
            killed = time.monotonic()
            second = start_worker(server.url, root / "data", root / "w2.log", extra=extra)
            wait_until(lambda: get()["attempts"] == 2 and get()["status"] == "running", timeout=120)
            recovered = time.monotonic() - killed
            done = api.wait_job(job["id"], timeout=600)
            total = time.monotonic() - killed
        finally:
            api.stop()
            for proc in (first, second):
                if proc is not None:
                    proc.stop()
            server.stop()
    ok = done["status"] == "succeeded"
    print(f"heartbeat_timeout_s={args.timeout} history_len={len(done['history']['test_loss'])} epochs={JOB['epochs']}")
    print(f"jobs=1 succeeded={int(ok)} lost={int(not ok)} attempts={done['attempts']} "
          f"resumed_from_epoch={done['resumed_from_epoch']} recover_s={recovered:.1f} total_s={total:.1f}")


if __name__ == "__main__":
    main()
