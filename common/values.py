"""Small value helpers every layer may use: ids, timestamps, JSON-safe numbers (stdlib only)."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

ID_RE = re.compile(r"[0-9a-f]{32}")


def is_id(value: str) -> bool:
    return bool(ID_RE.fullmatch(value))  # whole: "$" would also match before a trailing newline


def finite(value: float | None) -> float | None:
    """A number as JSON can carry it: NaN and infinities (a diverged run) become null."""
    return value if value is not None and math.isfinite(value) else None


def finite_list(values: list[float]) -> list[float | None]:
    """`finite` of each value: the list itself when all are finite (its sum is, unless one is NaN or infinite, or
    the sum overflows: then each is looked at), so a forecast's usual answer costs one sum, not a call a value."""
    return values if math.isfinite(sum(values)) else [finite(v) for v in values]  # type: ignore[return-value]


def now_iso() -> str:
    """Current time, ISO 8601 UTC with a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_ms(ms: float) -> str:
    """A time in ms since the epoch, ISO 8601 UTC with a Z (as `now_iso`)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return int(time.time() * 1000)
