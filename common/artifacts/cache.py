"""A worker's bounded local copy of the artifacts it reads again and again (models it serves), by sha256."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rnncast.common.artifacts.base import ArtifactCorrupt, ArtifactStore, ObjectInfo, verify
from rnncast.common.artifacts.local import atomic_write

SHA256 = re.compile(r"[0-9a-f]{64}")  # the only names the cache reads or writes
STALE_TMP_S = 3600.0  # a temp file this old was left by a process that died mid-write


class CachedStore(ArtifactStore):
    """Reads with a known sha256 are served from `root/<sha256>` when present, else fetched from `store`
    and kept there; the least recently used files go beyond `max_bytes`. Everything else goes to `store`.

    Only lowercase sha256 names are cached (anything else is read through, so a
    digest can never name a path). Processes of one host may share `root`:
    files appear atomically, eviction holds an exclusive flock on the folder
    itself (one process evicts at a time, no two count the same bytes), one
    evicted under another reader is fetched again, and temp files left by a
    process that died mid-write are removed once stale.
    """

    def __init__(self, store: ArtifactStore, root: Path, max_bytes: int) -> None:
        self.store, self.root, self.max_bytes = store, Path(root), max_bytes
        self.url = store.url
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def get(self, key: str, sha256: str | None = None) -> bytes:
        if sha256 is None or not SHA256.fullmatch(sha256):
            return self.store.get(key, sha256)
        path = self.root / sha256
        with contextlib.suppress(FileNotFoundError, ArtifactCorrupt):  # a damaged copy is fetched again
            data = verify(key, path.read_bytes(), sha256)
            path.touch()  # recently used
            return data
        data = self.store.get(key, sha256)
        if len(data) <= self.max_bytes:
            atomic_write(path, data)
            self._evict()
        return data

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This thread, and no other process on the host, holds the cache folder."""
        with self._lock:
            fd = os.open(self.root, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock

    def _evict(self) -> None:
        with self._exclusive():
            files, stale = [], time.time() - STALE_TMP_S
            for path in self.root.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    if SHA256.fullmatch(path.name):
                        files.append((stat.st_mtime, stat.st_size, path))
                    elif path.name.endswith(".tmp") and stat.st_mtime < stale:
                        path.unlink()
            total = sum(size for _, size, _ in files)
            for _, size, path in sorted(files):
                if total <= self.max_bytes:
                    break
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                total -= size

    def put(self, key: str, data: bytes) -> ObjectInfo:
        return self.store.put(key, data)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.store.get_range(key, start, length)

    def exists(self, key: str) -> bool:
        return self.store.exists(key)

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def list(self, prefix: str) -> list[str]:
        return self.store.list(prefix)

    def delete_prefix(self, prefix: str) -> int:
        return self.store.delete_prefix(prefix)

    def check(self) -> None:
        self.store.check()
