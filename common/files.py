"""Atomic file writes, shared by checkpoints and datasets."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def atomic_write(path: Path, payload: bytes) -> None:
    """Write to a temp file, fsync, rename over `path`, fsync the folder: a reader sees the old file or the new."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
