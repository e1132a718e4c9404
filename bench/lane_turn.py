"""The predict worker's CPU per answer in one lane turn, in process, at fixed batch sizes: a batch of session
observes (one value each, horizon 1, each on its own session) and a batch of `context` forecasts of horizon 1
(the same window), handed to `ForecastServer._serve` as the lane holds them, its thread's CPU time read around
each turn. Everything a turn does is real (Redis, the model cache, the kernel, the saves and the delivery to
an inbox); what the closed-loop bench (bench/sessions.py) cannot hold still, the batch size, is held still here,
so the worker's own cost per answer reads the same from run to run.

The tutorial's LSTM (hidden 20, windows of 80) is trained on a private stack; each measurement runs in a
child process on that stack's Redis and artifacts, with its own sessions written as its code writes them. With
--against another checkout (an older commit's worktree), the same children run that checkout's code, the two
taking turns, and the last lines give the other's figures and this one's over them. Each figure is the median
over the children (their range in brackets).
Last line: observe_us=<x> forecast_us=<y> (CPU per answer at the largest batch)
Usage: python bench/lane_turn.py [--batches 1,16,64] [--turns 150] [--rounds 5] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _stack import stack, tutorial_lstm
from sessions import WINDOW, value  # the closed-loop bench's sessions: the same windows

HERE = Path(__file__).resolve().parent


def child(redis_url: str, data_dir: str, model_id: str, batches: list[int], turns: int) -> dict[str, Any]:
    """This checkout's worker (whichever is on sys.path) measured: CPU microseconds per answer, per batch."""
    import numpy as np
    import redis
    import torch

    from rnncast.common import collector
    from rnncast.common import forecasts as wire
    from rnncast.common import sessions as sessions_wire
    from rnncast.common.artifacts import open_store
    from rnncast.common.sessions import OBSERVE, SESSION, SessionState
    from rnncast.common.settings import Settings
    from rnncast.common.store import Keys
    from rnncast.common.store.sync import JobStore
    from rnncast.worker.lane import ForecastServer
    from rnncast.worker.predict import ModelCache

    settings = Settings(redis_url=redis_url, data_dir=Path(data_dir))
    torch.set_num_threads(settings.torch_threads)
    torch.set_flush_denormal(settings.flush_denormal)
    store = JobStore.from_url(redis_url)
    r: redis.Redis = store.r
    server = ForecastServer(settings, ModelCache(4, open_store(settings)), store)
    record = r.get(Keys.model(model_id))
    sha = json.loads(record)["checkpoint"]["sha256"]
    attaches = hasattr(sessions_wire, "ADMITTED")  # this checkout's admission sends an observe's session with it
    inbox = uuid.uuid4().hex
    size = max(batches)
    sessions = [uuid.uuid4().hex for _ in range(size)]
    seen = [WINDOW] * size
    for c, sid in enumerate(sessions):  # each written as this checkout writes a session
        window = np.array([value(c, k) for k in range(WINDOW)])
        state = SessionState(model_id, sha, 1, 3600, WINDOW, window if attaches else window.tolist())  # type: ignore[arg-type]
        r.hset(Keys.session(sid), mapping={"observed": WINDOW, "state": state.encode(), "model": model_id})

    def observes(n: int) -> list[str]:
        raws = []
        for c in range(n):
            message = {"values": [value(c, seen[c])], SESSION: {"op": OBSERVE, "id": sessions[c]}}
            if attaches:  # as the admission queues it: the session in the request, the record after it
                message[sessions_wire.ADMITTED] = r.hmget(Keys.session(sessions[c]), ["observed", "state"])
            raw = wire.encode_request(uuid.uuid4().hex, inbox, 30, message)
            raws.append(f"{raw}\n{record}" if attaches else raw)
        return raws

    def forecasts(n: int) -> list[str]:
        return [wire.encode_request(uuid.uuid4().hex, inbox, 30, {
            "model_id": model_id, "horizon": 1, "context": [value(c, k) for k in range(seen[c] - WINDOW, seen[c])],
        }) + f"\n{record}" for c in range(n)]

    def turn(raws: list[str]) -> float:
        began = time.thread_time()
        server._serve(raws)
        spent = time.thread_time() - began
        answers = r.lpop(Keys.replies(inbox), len(raws)) or []
        assert len(answers) == len(raws) and all(" 200 " in a.partition("\n")[0] for a in answers), answers[:1]
        return spent

    for _ in range(20):  # warm: the model loaded, the kernel compiled, the caches filled
        turn(observes(size))
        seen[:] = [k + 1 for k in seen]
    collector.settle()
    out: dict[str, Any] = {}
    for kind, make in (("observe", observes), ("forecast", forecasts)):
        for n in batches:
            spent = 0.0
            for _ in range(turns):
                raws = make(n)
                spent += turn(raws)
                if kind == "observe":
                    seen[:n] = [k + 1 for k in seen[:n]]
            out[f"{kind}@{n}"] = 1e6 * spent / (turns * n)
    r.delete(*(Keys.session(s) for s in sessions), Keys.replies(inbox))
    return out


def run_child(checkout: Path, redis_url: str, data_dir: Path, model_id: str, batches: list[int],
              turns: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{checkout / 'src'}:{checkout}"}
    done = subprocess.run(
        [sys.executable, str(HERE / "lane_turn.py"), "--child", redis_url, str(data_dir), model_id,
         "--batches", ",".join(map(str, batches)), "--turns", str(turns)],
        env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measurement in {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pooled(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the children: one child's luck (these machines' figures move by a third from one
    process to the next) moves it least."""
    return {k: statistics.median(run[k] for run in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", default="1,16,64")
    parser.add_argument("--turns", type=int, default=150, help="turns per batch size in each child")
    parser.add_argument("--rounds", type=int, default=5, help="children per checkout (alternating with --against)")
    parser.add_argument("--against", type=Path, help="another rnncast checkout, measured in turn with this one")
    parser.add_argument("--child", nargs=3, metavar=("REDIS_URL", "DATA_DIR", "MODEL_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.child:
        print(json.dumps(child(*args.child, batches, args.turns)))
        return
    root = HERE.parent
    sides = [root] + ([args.against.resolve()] if args.against is not None else [])
    with stack(predict_threads=1) as s:
        model_id = tutorial_lstm(s)
        runs: list[list[dict[str, float]]] = [[] for _ in sides]
        for r in range(args.rounds):
            for i in range(len(sides))[:: 1 if r % 2 == 0 else -1]:
                runs[i].append(run_child(sides[i], s.redis.url, s.data_dir, model_id, batches, args.turns))
    figures = [pooled(side) for side in runs]
    for name, fig, side in zip(("this", "against"), figures, runs, strict=False):
        print(f"{name}: " + " ".join(f"{k}_us={v:.1f} ({min(r[k] for r in side):.1f}-{max(r[k] for r in side):.1f})"
                                     for k, v in fig.items()))
    top = max(batches)
    mine = figures[0]
    if len(figures) > 1:
        theirs = figures[1]
        print(f"against_observe_us={theirs[f'observe@{top}']:.1f} against_forecast_us={theirs[f'forecast@{top}']:.1f} "
              f"observe_ratio={mine[f'observe@{top}'] / theirs[f'observe@{top}']:.3f} "
              f"forecast_ratio={mine[f'forecast@{top}'] / theirs[f'forecast@{top}']:.3f}")
    print(f"observe_us={mine[f'observe@{top}']:.1f} forecast_us={mine[f'forecast@{top}']:.1f}")


if __name__ == "__main__":
    main()
