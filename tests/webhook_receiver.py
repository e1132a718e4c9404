"""A small local HTTP server that receives webhooks in a test: records every request, answers as told."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support import Api, RedisServer, start_worker, wait_worker_ready

# A stack's webhook settings in tests: a receiver on 127.0.0.1 is allowed, and retries come quickly.
SENDER = {"RNNCAST_WEBHOOK_ALLOW_PRIVATE": "true", "RNNCAST_WEBHOOK_TIMEOUT_S": "2", "RNNCAST_WEBHOOK_BACKOFF_S": "0.2"}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """`status`: the answer; `hold`: while set, requests wait (the connection stays open) until `release`."""

    status: int = 200
    hold: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    got: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.got.append(Received(dict(self.headers.items()), body))
                receiver.arrived.set()
                if receiver.hold.is_set():
                    receiver.released.wait(60)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def by_id(self) -> dict[str, list[Received]]:
        """What arrived, by delivery id: a receiver that dedups keeps one of each."""
        out: dict[str, list[Received]] = {}
        for item in list(self.got):
            out.setdefault(item.headers["Rnncast-Delivery"], []).append(item)
        return out

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiver_stack(root: Path, api_extra: dict[str, str] | None = None) -> Iterator[Any]:
    """A private Redis, an API and a worker that may post to 127.0.0.1 (SENDER), and a Receiver: `.api`,
    `.redis`, `.receiver`."""
    redis = RedisServer(root / "redis").start()
    api = Api(redis.url, root / "data", root / "api.log", extra=SENDER | (api_extra or {}))
    worker = start_worker(redis.url, root / "data", root / "worker.log", extra=SENDER)
    receiver = Receiver().start()
    try:
        wait_worker_ready(redis.client())
        yield type("Stack", (), {"api": api, "redis": redis, "receiver": receiver})
    finally:
        receiver.stop()
        worker.stop()
        api.stop()
        redis.stop()
