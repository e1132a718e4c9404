"""A small local HTTP server that receives webhooks in a test: records every request, answers as told."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
