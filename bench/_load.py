"""A small closed-loop HTTP load generator for the benchmarks (asyncio + aiohttp).

aiohttp rather than httpx: with 64 connections httpx's pool alone took about
two thirds of a core on this 2-core machine, CPU the servers under test need.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Load:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    headers: list[str] = field(default_factory=list)  # each answer's `header`, where run_load was given one

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        values = sorted(self.latencies_ms)
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def run_load(
    url: str, method: str, body: Callable[[int], Any] | None, clients: int, seconds: float, header: str = "",
) -> Load:
    """`clients` loops, each sending one request after another for `seconds`; with `header`, each answer's
    value of it is kept (Load.headers)."""

    async def main() -> Load:
        latencies: list[float] = []
        headers: list[str] = []
        errors = 0
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
            deadline = time.perf_counter() + seconds

            async def loop(worker: int) -> None:
                nonlocal errors
                i = 0
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    payload = body(worker * 100_000 + i) if body else None
                    async with http.request(method, url, json=payload) as r:
                        await r.read()
                        if r.status != 200:
                            errors += 1
                        elif header:
                            headers.append(r.headers.get(header, ""))
                    latencies.append((time.perf_counter() - t0) * 1000)
                    i += 1

            began = time.perf_counter()
            await asyncio.gather(*(loop(w) for w in range(clients)))
            return Load(len(latencies), time.perf_counter() - began, latencies, errors, headers)

    return asyncio.run(main())
