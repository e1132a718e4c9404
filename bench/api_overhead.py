"""`GET /v1/jobs/{id}` throughput against a bare FastAPI endpoint returning the same JSON.

Both run under uvicorn with the same settings (one process, log level
warning); the job is a finished 500-epoch LSTM job (full history in the JSON).
Last line: status_ratio=<rnncast req/s / bare req/s> rnncast_rps=.. bare_rps=..
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from _load import run_load
from _stack import stack

from tests.support import free_port, wait_until

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--epochs", type=int, default=500)
    args = parser.parse_args()
    tiny = {"cell": "RNN", "hidden_size": 2, "epochs": args.epochs, "checkpoint_every": 0,
            "data": {"points": 100}, "sequence_length": 5, "batch_size": 100}
    with stack() as s, tempfile.TemporaryDirectory() as tmp:
        job = s.api.http.post("/v1/jobs", json=tiny).json()
        document = s.api.wait_job(job["id"], timeout=600)
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps(document))
        url = f"{s.api.url}/v1/jobs/{job['id']}"
        run_load(url, "GET", None, args.clients, 1.0)  # warm up
        ours = run_load(url, "GET", None, args.clients, args.seconds)
        port = free_port()
        bare = subprocess.Popen([sys.executable, str(HERE / "bare_app.py"), str(path), str(port)])
        try:
            bare_url = f"http://127.0.0.1:{port}/v1/jobs/{job['id']}"
            wait_until(lambda: _answers(bare_url), timeout=30, interval=0.2)
            assert httpx.get(bare_url).json() == httpx.get(url).json()
            run_load(bare_url, "GET", None, args.clients, 1.0)
            base = run_load(bare_url, "GET", None, args.clients, args.seconds)
        finally:
            bare.terminate()
            bare.wait()
    print(f"rnncast: rps={ours.rps:.0f} p50_ms={ours.pct(0.5):.2f}  bare: rps={base.rps:.0f} "
          f"p50_ms={base.pct(0.5):.2f}  json_bytes={len(json.dumps(document))}")
    print(f"status_ratio={ours.rps / base.rps:.3f} rnncast_rps={ours.rps:.0f} bare_rps={base.rps:.0f}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
