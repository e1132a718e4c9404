"""The local-folder backend: today's layout under RNNCAST_DATA_DIR, written atomically, each file's sha256
recorded beside it (`.<name>.sha256`) and checked on read, as S3's metadata is."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
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


def _staged(path: Path, payload: bytes) -> Path:
    """`payload` in a fsynced temp file beside `path` (a name no key can take: it starts with '.')."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def atomic_write(path: Path, payload: bytes, *more: tuple[Path, bytes]) -> None:
    """Write to temp files, fsync, rename over `path` (after `more`'s files, renamed over theirs), fsync the
    folder: a reader sees the old file or the new."""
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data in (*more, (path, payload)):
            staged.append((_staged(target, data), target))
        for tmp, target in staged:  # back to back: a reader meets a mixed pair for a few microseconds at most
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def digest_path(path: Path) -> Path:
    """Where the sha256 of the file at `path` is recorded."""
    return path.with_name(f".{path.name}.sha256")


READ_TRIES = 4  # a read that meets a write between its file and its digest reads both again


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
    """Objects are files under `root` (key = relative path), each with its sha256 in `.<name>.sha256`.

    A read checks the digest the caller knows, else the recorded one: a file
    changed on disk is refused (ArtifactCorrupt). Files written before digests
    were recorded have none, and are read unchecked.
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
                    full = (f"the artifact disk has {free / 2**20:.0f} MiB free; writing {len(data)} bytes would "
                            f"leave less than RNNCAST_MIN_FREE_DISK_BYTES ({self.min_free / 2**20:.0f} MiB)")
                    raise StoreFull(full).said(full)  # names no path: the operator's setting, said as it is
            digest = sha256_of(data)
            # The digest is renamed into place first: a crash between the two renames leaves a pair
            # that a read refuses, never a changed file that passes.
            atomic_write(path, data, (digest_path(path), digest.encode()))
        return ObjectInfo(key, digest, len(data))

    def get(self, key: str, sha256: str | None = None) -> bytes:
        path = self._path(key)
        for attempt in range(READ_TRIES):
            try:
                data = path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                raise ArtifactMissing(f"artifact {key!r} not found") from None
            expected = sha256 or self._recorded(path)
            if expected is None or sha256_of(data) == expected:
                return data
            if sha256 is not None:
                break
            time.sleep(0.005 * (attempt + 1))  # a write may have renamed one of the pair between our two reads
        return verify(key, data, expected)

    @staticmethod
    def _recorded(path: Path) -> str | None:
        try:
            return digest_path(path).read_text("ascii", "replace").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None

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
        path = self._path(key)
        with disk_errors(key), contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
        with disk_errors(key), contextlib.suppress(FileNotFoundError, NotADirectoryError):
            digest_path(path).unlink()

    def list(self, prefix: str) -> list[str]:
        folder = self._path(prefix, prefix=True)
        if not folder.is_dir():
            return []
        # Names starting with '.' are the store's own (temp files, digests): no key can take one.
        return sorted(str(p.relative_to(self.root)) for p in folder.rglob("*")
                      if p.is_file() and not p.name.startswith("."))

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
