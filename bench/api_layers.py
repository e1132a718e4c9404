"""Where the API's CPU per session observe goes, layer by layer, without HTTP.

The API's app (service.main.create_app) runs in this process, on a private stack's Redis and predict worker
(the tutorial's LSTM, hidden 20, windows of 80); --clients concurrent sessions observe one value at a time
(horizon 1), each request handed to the app as uvicorn would hand it (an ASGI scope and its body), entering
the app at its top or at one of its middleware layers (the layers below it, then the fast path and the lane,
all real). The event loop's thread CPU per observe is read for each entry point, the entry points taking turns
(--rounds slices of --seconds each, the order flipped every round) so the machine's drift falls on all alike:
one entry point's figure less the next one's is what that layer costs. What the figures leave out is the HTTP
request itself (bench/sessions.py prints it as `floor_ms`) and this script's own client (building the scope,
a few µs, in every figure alike).
Last line: app_us=<x> fast_path_us=<y> chain_us=<x - y> (CPU µs per observe at the top, at the session's fast
path, and the middleware between)
Usage: python bench/api_layers.py [--clients 64] [--seconds 2] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson
from _stack import stack, tutorial_lstm
from sessions import WINDOW, value

FAST_PATH = "SessionFastPath"  # service.session_fastpath
HEADERS = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")]


def layers_of(app: Any) -> dict[str, Any]:
    """The app and its middleware, outermost first, by class name, down to the session's fast path (FastAPI's
    routing below it answers no observe the fast path takes)."""
    out = {"app": app}
    layer = app.middleware_stack or app.build_middleware_stack()
    app.middleware_stack = layer
    while type(layer).__name__ != FAST_PATH:
        out[type(layer).__name__] = layer
        layer = layer.app
    out[FAST_PATH] = layer
    return out


async def post(entry: Any, app: Any, path: str, body: bytes) -> tuple[int, bytes]:
    """One request through `entry`, as uvicorn hands it over: (status, body)."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "state": {}, "app": app,
             "headers": [*HEADERS, (b"content-length", str(len(body)).encode())], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}
    await entry(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


async def measure(app: Any, model_id: str, clients: int, seconds: float, rounds: int) -> dict[str, float]:
    entries = layers_of(app)
    app_entry = entries["app"]
    sids = []
    for c in range(clients):
        body = orjson.dumps({"window": [value(c, k) for k in range(WINDOW)], "horizon": 1})
        status, answer = await post(app_entry, app, f"/v1/models/{model_id}/sessions", body)
        assert status == 201, answer
        sids.append(orjson.loads(answer)["session_id"])
    seen = [WINDOW] * clients

    async def observe(entry: Any, c: int, until: float) -> int:
        n = 0
        while time.perf_counter() < until:
            body = orjson.dumps({"values": [value(c, seen[c])]})
            status, answer = await post(entry, app, f"/v1/sessions/{sids[c]}/observe", body)
            assert status == 200, answer
            seen[c] += 1
            n += 1
        return n

    async def slice_of(entry: Any, span: float) -> tuple[int, float]:
        began = time.thread_time()
        until = time.perf_counter() + span
        done = await asyncio.gather(*(observe(entry, c, until) for c in range(clients)))
        return sum(done), time.thread_time() - began

    await slice_of(app_entry, 1.0)  # warm: the model loaded, the kernel compiled
    names = list(entries)
    totals = {name: [0, 0.0] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            n, cpu = await slice_of(entries[name], seconds)
            totals[name][0] += n
            totals[name][1] += cpu
    return {name: 1e6 * cpu / max(n, 1) for name, (n, cpu) in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=2.0, help="per slice")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    import uvloop

    from rnncast.common.settings import Settings
    from rnncast.service.main import create_app

    with stack(predict_threads=1) as s:
        model_id = tutorial_lstm(s)
        app = create_app(Settings(redis_url=s.redis.url, data_dir=s.data_dir))

        async def run() -> dict[str, float]:
            async with app.router.lifespan_context(app):
                return await measure(app, model_id, args.clients, args.seconds, args.rounds)

        figures = uvloop.run(run())
    names = list(figures)
    for name, below in zip(names, [*names[1:], None], strict=True):
        step = f" (this layer: {figures[name] - figures[below]:+.1f})" if below is not None else ""
        print(f"{name}: {figures[name]:.1f} µs per observe{step}")
    top, fast = figures["app"], figures[FAST_PATH]
    print(f"app_us={top:.1f} fast_path_us={fast:.1f} chain_us={top - fast:.1f}")


if __name__ == "__main__":
    main()
