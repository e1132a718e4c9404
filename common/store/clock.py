"""Timestamps as the store records them."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_iso() -> str:
    """Current time, ISO 8601 UTC with a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return int(time.time() * 1000)
