"""`rnncast api` and `rnncast up`: serving the API, and running the whole stack."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import httpx
import uvicorn
from pydantic import ValidationError

from rnncast.common.artifacts import ArtifactError, StoreUnavailable, open_store
from rnncast.common.settings import Settings, get_settings
from rnncast.service.access_log import log_config
from rnncast.service.redis_server import answers, shown_url, start_private

log = logging.getLogger("rnncast.up")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def preflight(strict: bool = False) -> Settings:
    """The settings, validated, and the artifact store checked: a misconfiguration (bad settings, scheme,
    bucket, credentials) stops start-up with one line. A store that does not answer stops it only when
    `strict`; else one warning, and the process starts: its store calls answer 503 (the API) or retry
    (workers) until the store is back.
    """
    try:
        settings = get_settings()
        open_store(settings).check()
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise SystemExit(f"rnncast: bad settings: {reasons}") from None
    except StoreUnavailable as exc:
        if strict:
            raise SystemExit(f"rnncast: artifact store: {exc}") from None
        log.warning("the artifact store does not answer (%s); starting anyway, its calls fail until it does", exc)
    except ArtifactError as exc:
        raise SystemExit(f"rnncast: artifact store: {exc}") from None
    return settings


def check_bind(host: str) -> None:
    """Refuse a non-loopback address unless an API key is set."""
    if not is_loopback(host) and get_settings().api_key is None:
        raise SystemExit(
            f"refusing to listen on {host} without an API key: set RNNCAST_API_KEY "
            "(e.g. export RNNCAST_API_KEY=$(openssl rand -hex 32)) or bind 127.0.0.1"
        )


def run_api(host: str, port: int, log_level: str = "info", root_path: str = "") -> None:
    """Serve the API with uvicorn; blocks until stopped."""
    preflight()
    check_bind(host)
    settings = get_settings()
    # X-Forwarded-* are believed from the proxies the operator names only (uvicorn's default believes
    # loopback: any local client could choose its address).
    proxies = settings.forwarded_allow_ips.strip()
    uvicorn.run("rnncast.service.main:create_app", factory=True, host=host, port=port, log_level=log_level,
                timeout_graceful_shutdown=5, root_path=root_path, limit_concurrency=settings.max_connections,
                timeout_keep_alive=settings.keep_alive_s, proxy_headers=bool(proxies), forwarded_allow_ips=proxies,
                log_config=log_config())


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        time.sleep(0.2)
    return False


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


def default_workers() -> int:
    """One training process per CPU core this process may use: a comparison on a fresh
    `rnncast up` trains on every core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def up(host: str, port: int, workers: int, queues: str = "train,predict") -> int:
    """Redis (found or started), worker processes and the API; Ctrl-C/SIGTERM stops all."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rnncast up: %(message)s")
    settings = preflight()
    check_bind(host)
    started: list[subprocess.Popen[bytes]] = []
    redis_proc = None
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        if answers(settings.redis_url):
            log.info("using Redis at %s", shown_url(settings.redis_url))
        else:
            redis_proc = start_private(settings.redis_url, settings.data_dir / "redis")
            log.info("started a private Redis-compatible server for %s (AOF under %s)",
                     shown_url(settings.redis_url), settings.data_dir / "redis")
        cli = [sys.executable, "-m", "rnncast.client"]
        env = os.environ | {"RNNCAST_REDIS_URL": settings.redis_url}
        wanted = {q.strip() for q in queues.split(",")}
        if "train" in wanted:
            started.append(subprocess.Popen(
                [*cli, "worker", "--queues", "train", "--concurrency", str(workers)], env=env))
        if "predict" in wanted:
            # Forecasts: one process whose forecast thread batches every queued request;
            # a few pool threads draw figures.
            started.append(subprocess.Popen(
                [*cli, "worker", "--queues", "predict", "--pool", "threads", "--concurrency", "4"], env=env))
        api = subprocess.Popen([*cli, "api", "--host", host, "--port", str(port)], env=env)
        started.append(api)
        url = f"http://{host}:{port}"
        if _wait_ready(url, api, 60):
            log.info("API at %s (docs: %s/docs)", url, url)
            log.info("try: curl -X POST %s/v1/jobs -H 'content-type: application/json' "
                     "-d '{\"cell\":\"LSTM\",\"epochs\":50}'", url)
        while all(p.poll() is None for p in started):
            time.sleep(0.5)
        failed = [p for p in started if p.poll() is not None]
        log.error("%d child process(es) exited; stopping everything", len(failed))
        return 1
    except (KeyboardInterrupt, _Stop):
        log.info("stopping")
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _stop(started)
        if redis_proc is not None:
            _stop([redis_proc], grace=10)
