"""`GET /v1/jobs/{id}` throughput against a bare FastAPI endpoint returning the same JSON.

Both run under uvicorn with the same settings (one process, log level
warning); the job is a finished 500-epoch job (full history in the JSON).
The two are measured in turns (--rounds of --seconds each, summed), so load
from outside that comes and goes falls on both alike; the CPU ratio (the
server's own process, rnncast's Redis included) moves least with it.
Last line: status_ratio=<rnncast req/s / bare req/s> rnncast_rps=.. bare_rps=..
cpu_ratio=<rnncast's CPU per request / bare's>
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from _load import Load, run_load
from _stack import stack
from forecast_peer import cpu_seconds

from tests.support import free_port, wait_until

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0, help="per turn")
    parser.add_argument("--rounds", type=int, default=5)
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
        port = free_port()
        bare = subprocess.Popen([sys.executable, str(HERE / "bare_app.py"), str(path), str(port)])
        try:
            bare_url = f"http://127.0.0.1:{port}/v1/jobs/{job['id']}"
            wait_until(lambda: _answers(bare_url), timeout=60, interval=0.2)
            assert httpx.get(bare_url).json() == httpx.get(url).json()
            servers = {"rnncast": (url, [s.api.proc.proc.pid, s.redis.proc.pid]), "bare": (bare_url, [bare.pid])}
            turns: dict[str, list[Load]] = {name: [] for name in servers}
            cpu = dict.fromkeys(servers, 0.0)
            for at, _ in servers.values():
                run_load(at, "GET", None, args.clients, 1.0)  # warm up
            for _ in range(args.rounds):
                for name, (at, pids) in servers.items():
                    before = cpu_seconds(pids)
                    turns[name].append(run_load(at, "GET", None, args.clients, args.seconds))
                    cpu[name] += cpu_seconds(pids) - before
        finally:
            bare.terminate()
            bare.wait()
    ours, base = (Load(sum(t.requests for t in ts), sum(t.seconds for t in ts),
                       [x for t in ts for x in t.latencies_ms], sum(t.errors for t in ts)) for ts in turns.values())
    cpu_ratio = (cpu["rnncast"] / ours.requests) / (cpu["bare"] / base.requests)
    print(f"rnncast: rps={ours.rps:.0f} p50_ms={ours.pct(0.5):.2f} cpu_ms={1000 * cpu['rnncast'] / ours.requests:.3f}  "
          f"bare: rps={base.rps:.0f} p50_ms={base.pct(0.5):.2f} cpu_ms={1000 * cpu['bare'] / base.requests:.3f}  "
          f"json_bytes={len(json.dumps(document))}")
    print(f"status_ratio={ours.rps / base.rps:.3f} rnncast_rps={ours.rps:.0f} bare_rps={base.rps:.0f} "
          f"cpu_ratio={cpu_ratio:.3f}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
