"""The probes of bench/hostile.py (the event loop's stall, the processes' RSS, how long each lane was held) and
its raw-socket uploads.

Each probe runs in a process of its own (the bench's threads would share its GIL). The loop probe times GET
/healthz every few milliseconds; the lane probe asks a tiny model for a forecast every 0.1 s and for a figure
every 0.5 s, each on its own thread, and logs when each was sent, answered and with what status.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

PROBE = """
import sys, time
import httpx
url, out = sys.argv[1:3]
with httpx.Client(base_url=url, timeout=30) as http, open(out, "w", buffering=1) as log:
    while True:
        began = time.monotonic()
        http.get("/healthz")
        log.write(f"{began} {time.monotonic() - began}\\n")
        time.sleep(0.003)
"""


class Probe:
    """GET /healthz in a loop, from a process of its own (this one's threads would share its GIL)."""

    def __init__(self, url: str, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE, url, str(log)])

    def samples(self) -> list[tuple[float, float]]:
        rows = (line.split() for line in self.log.read_text().splitlines())
        return [(float(r[0]), float(r[1])) for r in rows if len(r) == 2]

    def worst(self, since: float, until: float) -> float:
        return max((lat for t, lat in self.samples() if since <= t <= until), default=0.0)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Sampler(threading.Thread):
    """The RSS of each process of the stack, every 10 ms: the peak per process in a window."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.roots = [psutil.Process(p) for p in pids]
        self.samples: list[tuple[float, dict[int, int]]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            now, rss = time.perf_counter(), {}
            for root in self.roots:
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        rss[proc.pid] = proc.memory_info().rss
                    except psutil.Error:
                        pass
            self.samples.append((now, rss))
            time.sleep(0.01)

    def growth(self, since: float, until: float) -> float:
        before = next((r for t, r in reversed(self.samples) if t < since), {})
        during = [r for t, r in self.samples if since <= t <= until + 0.05]
        return max((r.get(pid, 0) - base for pid, base in before.items() for r in during), default=0.0)


LANE_PROBE = """
import sys, threading, time
import httpx
url, key, model, out = sys.argv[1:5]
log = open(out, "w", buffering=1)
lock = threading.Lock()
def loop(lane, every):
    with httpx.Client(base_url=url, timeout=120, headers={"X-API-Key": key}) as http:
        while True:
            sent = time.monotonic()
            try:
                ask = {"start": 50.0, "horizon": 5}
                if lane == "forecast":
                    code = http.post(f"/v1/models/{model}/forecast", json=ask).status_code
                else:
                    code = http.get(f"/v1/models/{model}/forecast.png", params=ask).status_code
            except httpx.HTTPError:
                code = 0
            with lock:
                log.write(f"{lane} {sent} {time.monotonic()} {code}\\n")
            time.sleep(every)
threading.Thread(target=loop, args=("figure", 0.5), daemon=True).start()
loop("forecast", 0.1)
"""


class LaneProbe:
    """A tiny model's forecast and figure in a loop: how long a request sent meanwhile waited for its lane."""

    def __init__(self, url: str, key: str, model: str, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-c", LANE_PROBE, url, key, model, str(log)])

    def rows(self) -> list[tuple[str, float, float, int]]:
        out: list[tuple[str, float, float, int]] = []
        for line in (self.log.read_text() if self.log.exists() else "").splitlines():
            parts = line.split()
            if len(parts) == 4:
                out.append((parts[0], float(parts[1]), float(parts[2]), int(parts[3])))
        return out

    def settle(self, after: float, timeout: float = 120.0) -> None:
        """Wait until each lane answered a 200 to a request sent after `after` (its lane is free again)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = {lane for lane, sent, _, code in self.rows() if sent > after and code == 200}
            if done >= {"forecast", "figure"}:
                return
            time.sleep(0.1)

    def held(self, since: float, until: float) -> float:
        """The longest a probe sent in [since, until] and let into its lane (not a 429) waited for a 200 there:
        its own answer, or past a 503 the next probe's (a lane held past a request's timeout shows in full)."""
        rows, worst = self.rows(), 0.0
        for lane, sent, _, code in rows:
            if since <= sent <= until and code != 429:
                ok = [answered for other, s, answered, c in rows if other == lane and c == 200 and s >= sent]
                worst = max(worst, (min(ok) if ok else time.monotonic()) - sent)
        return worst

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def idle_uploads(port: int, key: str, count: int, declared: int, trickle_s: float = 0.0) -> str:
    """`count` uploads that declare `declared` bytes, send 20 (then a byte every `trickle_s`), and their answers."""
    head = (f"POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{{\"name\": \"idle\", ")
    socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(count)]
    for sock in socks:
        sock.sendall(head.encode())
    codes = []
    for sock in socks:
        if trickle_s:
            sock.settimeout(trickle_s)
            while True:
                try:
                    sock.sendall(b" ")
                    reply = sock.recv(4096)
                    break
                except TimeoutError:
                    continue
        else:
            reply = sock.recv(4096)
        codes.append(reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/1.1 ") else "none")
        sock.close()
    return " ".join(f"{codes.count(c)}x{c}" for c in sorted(set(codes)))
