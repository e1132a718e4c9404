"""Artifacts (checkpoints, model files, datasets) in one swappable store: a local folder or S3.

`RNNCAST_ARTIFACTS` picks it: unset (RNNCAST_DATA_DIR), a path or `file://path`,
or `s3://bucket/prefix` (with RNNCAST_S3_ENDPOINT_URL for a server other than AWS).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rnncast.common.artifacts.base import (
    ArtifactCorrupt,
    ArtifactError,
    ArtifactMissing,
    ArtifactStore,
    ObjectInfo,
    StoreFull,
    StoreMisconfigured,
    StoreUnavailable,
    public_text,
)
from rnncast.common.artifacts.cache import CachedStore
from rnncast.common.artifacts.local import LocalStore
from rnncast.common.settings import Settings

__all__ = [
    "BACKOFF_S",
    "ArtifactCorrupt",
    "ArtifactError",
    "ArtifactMissing",
    "ArtifactStore",
    "CachedStore",
    "LocalStore",
    "ObjectInfo",
    "StoreFull",
    "StoreMisconfigured",
    "StoreUnavailable",
    "open_store",
    "public_text",
    "retrying",
]
log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_S = (0.25, 5.0)  # first and longest wait between tries while the store is unavailable


def open_store(settings: Settings, timeout_s: float | None = None) -> ArtifactStore:
    """The store RNNCAST_ARTIFACTS names (not yet checked: see `ArtifactStore.check`).

    Args:
        timeout_s: an S3 request's timeout, where not RNNCAST_S3_TIMEOUT_S (the API's is shorter).
    """
    url = settings.artifacts_url
    if url.startswith("s3://"):
        from rnncast.common.artifacts.s3 import S3Store  # boto3: loaded only where S3 is used

        return S3Store(url, settings.s3_endpoint_url, timeout_s or settings.s3_timeout_s)
    return LocalStore(Path(url.removeprefix("file://")), settings.min_free_disk_bytes)


def retrying(call: Callable[[], T], within_s: float, what: str) -> T:
    """`call()`, tried again with backoff while the store is unavailable, for up to `within_s` seconds."""
    deadline = time.monotonic() + within_s
    delay = BACKOFF_S[0]
    while True:
        try:
            return call()
        except StoreUnavailable as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: %s; retrying in %.2g s", what, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_S[1])
