"""What a streaming session's transport costs a Python server per point, before any work: an HTTP request
against a WebSocket message.

The bare ASGI app of bench/asgi_floor.py (no framework, no Redis, a fixed session answer) under the same
uvicorn that serves `rnncast api`, once per WebSocket implementation uvicorn offers (--ws): --clients clients,
closed loop, each either POSTing an observe's body per point (keep-alive) or sending it as a message on its
own WebSocket and reading the answer. Server CPU per point is the server process's (psutil), the two
transports taking turns in --rounds slices so the machine's drift falls on both. rnncast's observe is either
(bench/sessions.py: `http_cpu_ms_per_point` over HTTP, `cpu_ms_per_point` on a session's stream, each with its
floor beside it); this bench sets the two floors side by side, under each WebSocket implementation.
Last line: http_us=<x> ws_us=<y> ws_vs_http=<y / x> ws=<implementation> (the cheapest WebSocket implementation's)
Usage: python bench/transport_floor.py [--clients 64] [--seconds 8] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import aiohttp
from _stack import cpu_seconds, server

from tests.support import free_port

HERE = Path(__file__).resolve().parent
BODY = '{"values":[0.5]}'
IMPLEMENTATIONS = ("websockets", "websockets-sansio")


async def load(url: str, clients: int, seconds: float, ws: bool, pid: int) -> tuple[int, float]:
    """(points answered, server CPU seconds) over `seconds`, once every client is connected."""
    done = 0
    ready, go = asyncio.Event(), asyncio.Event()
    connected = 0
    until = 0.0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal done, connected, until
        if ws:
            async with http.ws_connect(url.replace("http://", "ws://") + "/stream") as socket:
                connected += 1
                if connected == clients:
                    ready.set()
                await go.wait()
                while time.perf_counter() < until:
                    await socket.send_str(BODY)
                    await socket.receive()
                    done += 1
            return
        async with http.post(url + "/observe", data=BODY, headers={"content-type": "application/json"}) as r:
            await r.read()  # the connection opened and kept
        connected += 1
        if connected == clients:
            ready.set()
        await go.wait()
        while time.perf_counter() < until:
            async with http.post(url + "/observe", data=BODY, headers={"content-type": "application/json"}) as r:
                await r.read()
            done += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        tasks = [asyncio.create_task(client(http)) for _ in range(clients)]
        await ready.wait()
        began = cpu_seconds([pid])
        until = time.perf_counter() + seconds
        go.set()
        await asyncio.gather(*tasks)
        return done, cpu_seconds([pid]) - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0, help="per transport, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for impl in IMPLEMENTATIONS:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with server([str(HERE / "asgi_floor.py"), str(port), impl], url, {}) as proc:
            totals = {False: [0, 0.0], True: [0, 0.0]}
            for r in range(args.rounds):
                for ws in (False, True) if r % 2 == 0 else (True, False):
                    n, cpu = asyncio.run(load(url, args.clients, args.seconds / args.rounds, ws, proc.pid))
                    totals[ws][0] += n
                    totals[ws][1] += cpu
        http_us, ws_us = (1e6 * totals[ws][1] / max(totals[ws][0], 1) for ws in (False, True))
        print(f"{impl}: http {http_us:.1f} µs per point ({totals[False][0]} points), websocket {ws_us:.1f} µs per "
              f"point ({totals[True][0]}): {ws_us / http_us:.2f}")
        figures[f"http {impl}"], figures[impl] = http_us, ws_us
    best = min(IMPLEMENTATIONS, key=lambda impl: figures[impl])
    http_us, ws_us = figures[f"http {best}"], figures[best]
    print(f"http_us={http_us:.1f} ws_us={ws_us:.1f} ws_vs_http={ws_us / http_us:.2f} ws={best}")


if __name__ == "__main__":
    main()
