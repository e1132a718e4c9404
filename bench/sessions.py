"""Streaming sessions: server CPU per observed point at --clients concurrent sessions, horizon 1.

Each client opens a session on the tutorial's LSTM (hidden 20, windows of 80) with its own phase of the
sine, then, once every client has opened its session, observes one point at a time, closed loop, for
--seconds: on the session's stream (a message on its WebSocket per point: service.session_stream), and, measured
apart, over HTTP (a `POST .../observe` per point). Server CPU is the user + system time of the API and the predict
worker processes (psutil, children included), read around the observing (opening is not counted); Redis's is
printed apart. Side by side in the same run: the same clients sending plain `context` forecasts of horizon 1 (the
window each time), the CPU a forecast costs without a session; and the machine's floors, the same clients against
a bare ASGI app under the same uvicorn (bench/asgi_floor.py: no framework, no Redis, a fixed answer) over each
transport, which scale with the machine as the API does (figures from different machines compare by `vs_floor`).
Last line: cpu_ms_per_point=<x> (a stream's; goal <= 0.2) with_redis_ms=.. http_cpu_ms_per_point=..
forecast_cpu_ms=.. points_per_s=.. floor_ms=.. (the WebSocket floor) vs_floor=.. http_floor_ms=.. http_vs_floor=..
With --against another checkout (an older commit's worktree), both stacks serve at once and each figure is
measured in alternating slices, so the machine's drift (this 2-core machine's figures move by a third from one
run to the next) falls on both alike; the last lines then give the other's figures and this one's over them
(streams too where the other checkout has them).
Usage: python bench/sessions.py [--clients 64] [--seconds 10] [--quick] [--against DIR [--rounds 6]]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from _stack import cpu_seconds, server, stack, tutorial_lstm

from rnncast.common.sessions import STREAM_PATH
from tests.support import free_port

HERE = Path(__file__).resolve().parent
HORIZON = 1
WINDOW = 80
STEP = 1000 / 1999  # the tutorial's sampling


def value(phase: int, k: int) -> float:
    return math.sin(2 * math.pi * (k * STEP + phase * 0.37) / 20)


def run(clients: int, seconds: float, one: Callable[[aiohttp.ClientSession, int], Any],
        started: Callable[[], None] = lambda: None) -> tuple[int, int]:
    """`clients` loops: each makes its step (`one(http, client)`: a session opens there), then, once every
    client has (`started` is called then), they step until the time is up: (steps answered 200, others)."""

    async def main() -> tuple[int, int]:
        ok = bad = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
            steps = await asyncio.gather(*(one(http, c) for c in range(clients)))
            started()
            deadline = time.perf_counter() + seconds

            async def loop(step: Callable[[], Any]) -> None:
                nonlocal ok, bad
                while time.perf_counter() < deadline:
                    if await step():
                        ok += 1
                    else:
                        bad += 1

            await asyncio.gather(*(loop(step) for step in steps))
        return ok, bad

    return asyncio.run(main())


async def open_session(http: aiohttp.ClientSession, url: str, model_id: str, c: int) -> str:
    """Client `c`'s session, opened with its first window."""
    window = [value(c, k) for k in range(WINDOW)]
    async with http.post(f"{url}/v1/models/{model_id}/sessions", json={"window": window, "horizon": HORIZON}) as r:
        return str((await r.json())["session_id"])


def session_client(url: str, model_id: str) -> Callable[[aiohttp.ClientSession, int], Any]:
    async def start(http: aiohttp.ClientSession, c: int) -> Callable[[], Any]:
        sid = await open_session(http, url, model_id, c)
        k = WINDOW

        async def step() -> bool:
            nonlocal k
            async with http.post(f"{url}/v1/sessions/{sid}/observe", json={"values": [value(c, k)]}) as r:
                await r.read()
            k += 1
            return r.status == 200

        return step

    return start


def stream_client(url: str, model_id: str) -> Callable[[aiohttp.ClientSession, int], Any]:
    """As `session_client`, each point a message on the session's stream (its WebSocket) instead of a request."""

    async def start(http: aiohttp.ClientSession, c: int) -> Callable[[], Any]:
        sid = await open_session(http, url, model_id, c)
        socket = await http.ws_connect(url.replace("http://", "ws://") + STREAM_PATH.format(session_id=sid))
        k = WINDOW

        async def step() -> bool:
            nonlocal k
            await socket.send_str(f'{{"values":[{value(c, k)!r}]}}')
            answer = await socket.receive()
            k += 1
            return answer.type == aiohttp.WSMsgType.TEXT and answer.data.startswith('{"status":200,')

        return step

    return start


def forecast_client(url: str, model_id: str) -> Callable[[aiohttp.ClientSession, int], Any]:
    async def start(http: aiohttp.ClientSession, c: int) -> Callable[[], Any]:
        k = WINDOW

        async def step() -> bool:
            nonlocal k
            body = {"context": [value(c, j) for j in range(k - WINDOW, k)], "horizon": HORIZON}
            async with http.post(f"{url}/v1/models/{model_id}/forecast", json=body) as r:
                await r.read()
            k += 1
            return r.status == 200

        return step

    return start


@dataclass
class Measured:
    api_ms: float  # CPU per answer
    worker_ms: float
    redis_ms: float
    answers: int
    failed: int
    per_s: float

    @classmethod
    def pooled(cls, parts: list[Measured]) -> Measured:
        """Measurements of one server as one: CPU per answer over all their answers, answers per second over
        all their time."""
        answers = sum(m.answers for m in parts)
        wall = sum(m.answers / m.per_s for m in parts if m.per_s)

        def per_answer(ms: Callable[[Measured], float]) -> float:
            return sum(ms(m) * m.answers for m in parts) / max(answers, 1)

        return cls(per_answer(lambda m: m.api_ms), per_answer(lambda m: m.worker_ms),
                   per_answer(lambda m: m.redis_ms), answers, sum(m.failed for m in parts),
                   answers / wall if wall else 0.0)

    @property
    def server_ms(self) -> float:
        return self.api_ms + self.worker_ms

    def line(self, name: str) -> str:
        return (f"{name}: cpu_ms={self.server_ms:.3f} (api {self.api_ms:.3f} worker {self.worker_ms:.3f}) "
                f"redis_ms={self.redis_ms:.3f} answers={self.answers} failed={self.failed} per_s={self.per_s:.0f}")


def measure(pids: dict[str, list[int]], clients: int, seconds: float,
            client: Callable[[aiohttp.ClientSession, int], Any]) -> Measured:
    """Server CPU per answer (the API's, the workers', Redis's), answers, failures, answers per second; read
    once every client has started (its session opened), so that opening is not counted."""
    before: dict[str, float] = {}
    t0 = 0.0

    def started() -> None:
        nonlocal t0
        before.update({k: cpu_seconds(v) for k, v in pids.items()})
        t0 = time.perf_counter()

    ok, bad = run(clients, seconds, client, started)
    wall = time.perf_counter() - t0
    ms = {k: 1000 * (cpu_seconds(v) - before[k]) / max(ok, 1) for k, v in pids.items()}
    return Measured(ms["api"], ms["workers"], ms["redis"], ok, bad, ok / wall)


@dataclass
class Served:
    """One rnncast stack: its URL, its trained model, its processes."""

    url: str
    model_id: str
    pids: dict[str, list[int]]


@contextmanager
def served(checkout: Path | None = None) -> Iterator[Served]:
    """A stack serving a freshly trained tutorial LSTM, warmed up; from `checkout` (another rnncast tree) if
    given, else this one."""
    extra = {"PYTHONPATH": f"{checkout / 'src'}:{checkout}"} if checkout is not None else None
    with stack(predict_threads=1, extra=extra) as s:
        model_id = tutorial_lstm(s)
        assert s.redis.proc is not None
        pids = {"api": [s.api.proc.proc.pid], "workers": [w.proc.pid for w in s.workers], "redis": [s.redis.proc.pid]}
        run(4, 1.0, session_client(s.api.url, model_id))  # warm up: the model loaded, the kernel compiled
        yield Served(s.api.url, model_id, pids)


def alternated(sides: list[Served], kind: Callable[[str, str], Any], clients: int, seconds: float,
               rounds: int) -> list[Measured]:
    """Each side measured in `rounds` slices of `seconds` / `rounds`, the sides taking turns (the order flipped
    each round), summed: what the machine does meanwhile falls on both alike."""
    slices: list[list[Measured]] = [[] for _ in sides]
    for r in range(rounds):
        for i in range(len(sides))[:: 1 if r % 2 == 0 else -1]:
            side = sides[i]
            slices[i].append(measure(side.pids, clients, seconds / rounds, kind(side.url, side.model_id)))
    return [Measured.pooled(parts) for parts in slices]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="4 s per measurement")
    parser.add_argument("--against", type=Path, help=(
        "another rnncast checkout (e.g. `git worktree add /tmp/old <commit>`): both serve at once and are "
        "measured in alternating slices, each figure printed for both, with this one's over the other's"))
    parser.add_argument("--rounds", type=int, default=6, help="slices per side with --against")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else args.seconds
    if args.against is not None:
        kinds = {"forecasts": forecast_client, "sessions": session_client}
        if (args.against / "service" / "session_stream.py").exists():  # it has streams too
            kinds["streams"] = stream_client
        with served() as this, served(args.against.resolve()) as that:
            runs = {name: alternated([this, that], kind, args.clients, seconds, args.rounds)
                    for name, kind in kinds.items()}
        for name, (mine, theirs) in runs.items():
            print(mine.line(f"{name} (this)"))
            print(theirs.line(f"{name} (against)"))
        (fc, fc_then), (se, se_then) = runs["forecasts"], runs["sessions"]
        st, st_then = runs.get("streams", (None, None))
        streams = (f" against_stream_cpu_ms_per_point={st_then.server_ms:.3f} "
                   f"streams_ratio={st.server_ms / st_then.server_ms:.3f}" if st and st_then else "")
        print(f"against_cpu_ms_per_point={se_then.server_ms:.3f} against_forecast_cpu_ms={fc_then.server_ms:.3f} "
              f"points_ratio={se.server_ms / se_then.server_ms:.3f} "
              f"forecasts_ratio={fc.server_ms / fc_then.server_ms:.3f}{streams}")
        print(f"http_cpu_ms_per_point={se.server_ms:.3f} with_redis_ms={se.server_ms + se.redis_ms:.3f} "
              f"forecast_cpu_ms={fc.server_ms:.3f} points_per_s={se.per_s:.0f}"
              + (f" cpu_ms_per_point={st.server_ms:.3f}" if st else ""))
        return
    with served() as this:
        fc = measure(this.pids, args.clients, seconds, forecast_client(this.url, this.model_id))
        se = measure(this.pids, args.clients, seconds, session_client(this.url, this.model_id))
        st = measure(this.pids, args.clients, seconds, stream_client(this.url, this.model_id))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server([str(HERE / "asgi_floor.py"), str(port), "websockets-sansio"], url, {}) as bare:  # rnncast's base
        run(4, 1.0, session_client(url, "0" * 32))
        floors = [measure({"api": [bare.pid], "workers": [], "redis": []}, args.clients, seconds, kind(url, "0" * 32))
                  for kind in (session_client, stream_client)]
    floor, stream_floor = floors
    print(fc.line("forecasts"))
    print(se.line("sessions over HTTP"))
    print(st.line("sessions' streams"))
    print(floor.line("floor over HTTP"))
    print(stream_floor.line("floor over a WebSocket"))
    print(f"cpu_ms_per_point={st.server_ms:.3f} with_redis_ms={st.server_ms + st.redis_ms:.3f} "
          f"http_cpu_ms_per_point={se.server_ms:.3f} forecast_cpu_ms={fc.server_ms:.3f} points_per_s={st.per_s:.0f} "
          f"floor_ms={stream_floor.server_ms:.3f} vs_floor={st.server_ms / stream_floor.server_ms:.2f} "
          f"http_floor_ms={floor.server_ms:.3f} http_vs_floor={se.server_ms / floor.server_ms:.2f}")


if __name__ == "__main__":
    main()
