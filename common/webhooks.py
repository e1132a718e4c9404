"""Webhooks' shared facts: the events, the signature scheme, and the URL guard (SSRF) (stdlib only).

A delivery is a POST of a JSON body with three headers: `Rnncast-Delivery` (the delivery's id, stable across
retries: a receiver dedups on it), `Rnncast-Timestamp` (Unix seconds when this attempt was signed: a receiver
refuses old ones, its replay window) and `Rnncast-Signature` (`v1=` and the hex HMAC-SHA256 of
`<timestamp>.<body>` under the subscription's secret).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Callable, Iterable
from enum import StrEnum
from urllib.parse import urlsplit

DELIVERY_HEADER = "Rnncast-Delivery"
TIMESTAMP_HEADER = "Rnncast-Timestamp"
SIGNATURE_HEADER = "Rnncast-Signature"
SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200


class WebhookEvent(StrEnum):
    """What a subscription may ask to hear about."""

    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    COMPARISON_FINISHED = "comparison.finished"
    # An alias moved onto another model (POST /v1/aliases/{name}); queued by the script that moves it.
    ALIAS_MOVED = "alias.moved"


TEST_EVENT = "webhook.test"  # a test delivery's event (POST /v1/webhooks/{id}/test); nobody subscribes to it


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Rnncast-Signature` header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, headers: dict[str, str], body: bytes, now: float, window_s: float = 300) -> bool:
    """Whether a delivery's headers sign `body` under `secret` within `window_s` of `now` (a receiver's check)."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
        given = headers[SIGNATURE_HEADER]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > window_s:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Iterable[str]]


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (RNNCAST_WEBHOOK_ALLOWED_NETWORKS); ValueError names a bad one."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (blocking: DNS)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def address_refusal(address: str, allow_private: bool, allowed: tuple[Network, ...]) -> str | None:
    """Why a webhook may not be sent to `address`, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private or any(ip in net for net in allowed):
        return None
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


def url_refusal(url: str, allow_private: bool, allowed: tuple[Network, ...],
                resolver: Resolver = resolve) -> str | None:
    """Why webhooks may not go to `url` (scheme, form, and every address its host resolves to now), or None.

    Checked when a subscription is made and again before every delivery (DNS can change)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        return f"url is malformed: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"url's scheme must be http or https, not {parts.scheme!r}"
    if not parts.hostname:
        return "url names no host"
    if parts.username is not None or parts.password is not None:
        return "url must not carry credentials (the signature authenticates deliveries)"
    try:
        addresses = list(resolver(parts.hostname, port))
    except (OSError, UnicodeError) as exc:
        return f"url's host {parts.hostname!r} does not resolve: {exc}"
    if not addresses:
        return f"url's host {parts.hostname!r} does not resolve"
    for address in addresses:
        why = address_refusal(address, allow_private, allowed)
        if why:
            return (f"url's host {parts.hostname!r} resolves to {why}: webhooks go to public addresses only "
                    "(RNNCAST_WEBHOOK_ALLOW_PRIVATE or RNNCAST_WEBHOOK_ALLOWED_NETWORKS let the operator allow it)")
    return None
