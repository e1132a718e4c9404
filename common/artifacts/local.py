"""The local-folder backend: today's layout under RNNCAST_DATA_DIR, written atomically."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from rnncast.common.artifacts.base import (
    ArtifactMissing,
    ArtifactStore,
    ObjectInfo,
    StoreFull,
    StoreMisconfigured,
    StoreUnavailable,
    check_key,
    sha256_of,
    verify,
)


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


FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# Errors that may pass by themselves (retried like a store that is down); any other OSError, such as a
# path that is not a folder, is no better on a retry and stays what it is (the API answers it 503).
TRANSIENT = {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT}


@contextlib.contextmanager
def disk_errors(key: str) -> Iterator[None]:
    """A failed write or delete as the store's errors: a full disk is StoreFull (507), a transient error
    StoreUnavailable (503, retried by workers); others pass as they are."""
    try:
        yield
    except StoreFull:
        raise
    except OSError as exc:
        if exc.errno in FULL:
            raise StoreFull(f"the artifact disk is full writing {key!r} ({exc.strerror})") from None
        if exc.errno in TRANSIENT:
            raise StoreUnavailable(f"the artifact disk refused writing {key!r} ({exc.strerror})") from None
        raise


class LocalStore(ArtifactStore):
    """Objects are files under `root` (key = relative path).

    The digest a caller knows is checked on read; files written before the
    store existed carry none of their own, so a local read without one is unchecked.
    """

    def __init__(self, root: Path, min_free_bytes: float = 0) -> None:
        self.root, self.min_free = Path(root), min_free_bytes
        self.url = f"file://{self.root.resolve()}"

    def _path(self, key: str, prefix: bool = False) -> Path:
        return self.root.joinpath(*check_key(key, prefix=prefix).rstrip("/").split("/"))

    def put(self, key: str, data: bytes) -> ObjectInfo:
        path = self._path(key)
        with disk_errors(key):
            path.parent.mkdir(parents=True, exist_ok=True)
            if self.min_free:
                free = shutil.disk_usage(path.parent).free
                if free - len(data) < self.min_free:
                    raise StoreFull(f"the artifact disk has {free / 2**20:.0f} MiB free; writing {len(data)} bytes "
                                    f"would leave less than RNNCAST_MIN_FREE_DISK_BYTES "
                                    f"({self.min_free / 2**20:.0f} MiB)")
            atomic_write(path, data)
        return ObjectInfo(key, sha256_of(data), len(data))

    def get(self, key: str, sha256: str | None = None) -> bytes:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ArtifactMissing(f"artifact {key!r} not found") from None
        return verify(key, data, sha256)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            with open(self._path(key), "rb") as fh:
                fh.seek(start)
                return fh.read(length)
        except (FileNotFoundError, NotADirectoryError):
            raise ArtifactMissing(f"artifact {key!r} not found") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        with disk_errors(key), contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._path(key).unlink()

    def list(self, prefix: str) -> list[str]:
        folder = self._path(prefix, prefix=True)
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in folder.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp"))

    def delete_prefix(self, prefix: str) -> int:
        if not check_key(prefix, prefix=True):
            raise ValueError("refusing to delete every artifact (an empty prefix)")
        count = super().delete_prefix(prefix)
        folder = self._path(prefix, prefix=True)
        for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True) if folder.is_dir() else []:
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            folder.rmdir()
        return count

    def create(self) -> bool:
        existed = self.root.is_dir()
        self.check()
        return not existed

    def check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreMisconfigured(f"artifact folder {self.root} is not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreMisconfigured(f"artifact folder {self.root} cannot be created: {exc.strerror}") from None
        if not os.access(self.root, os.W_OK):
            raise StoreMisconfigured(f"artifact folder {self.root} is not writable")
