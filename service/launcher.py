"""`rnncast api`: checking the settings and serving the API (`rnncast up` is service.up)."""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any

import uvicorn
from pydantic import ValidationError

from rnncast.common.artifacts import ArtifactError, StoreUnavailable, open_store
from rnncast.common.settings import Settings, get_settings
from rnncast.service.access_log import log_config

log = logging.getLogger("rnncast.launcher")


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
                log_config=log_config(), **websockets(settings))


def websockets(settings: Settings) -> dict[str, Any]:
    """uvicorn's WebSocket options (sessions' streams: service.session_stream): its sans-I/O implementation (the
    cheapest a message: bench/transport_floor.py), bounded for a peer that does not read (service.websocket), a
    message no larger than a request's body, no compression."""
    return {"ws": "rnncast.service.websocket:BoundedWebSocket", "ws_max_size": settings.max_body_bytes,
            "ws_per_message_deflate": False}


def default_workers() -> int:
    """One training process per CPU core this process may use: a comparison on a fresh
    `rnncast up` trains on every core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
