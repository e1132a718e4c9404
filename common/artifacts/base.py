"""The artifact store: checkpoints, model files and datasets, by key, on a local folder or in S3.

Keys are '/'-separated paths of letters, digits, '_', '-' and '.' (e.g.
`models/<id>/model.json`). Every backend replaces an object atomically (a
reader sees the old bytes or the new), records its sha256 when it is put, and
checks a digest on read: the one the caller knows, else the one recorded.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

_SEGMENT = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class ArtifactError(Exception):
    """Something went wrong with the artifact store.

    Its message (for logs) may name the endpoint, the bucket and keys; `public`
    is what a client or a job's `error` may say: it names none of them.
    """

    public: str = "the artifact store failed; see the server's log"

    def said(self, text: str) -> ArtifactError:
        """This error with `text` as what may be said publicly (a message that names nothing private)."""
        self.public = text
        return self


class ArtifactMissing(ArtifactError, FileNotFoundError):
    """No object at that key."""

    public = "a file is missing from the artifact store"


class ArtifactCorrupt(ArtifactError, ValueError):
    """An object's bytes do not match its sha256."""

    public = "a file in the artifact store does not match its digest: it was truncated or changed"


class StoreUnavailable(ArtifactError, ConnectionError):
    """The store did not answer, or answered with a server error: transient, worth retrying."""

    public = "the artifact store is unavailable; retry shortly"


class StoreFull(ArtifactError, OSError):
    """A write would leave the disk with less free space than the store must keep (507)."""

    public = "the artifact store's disk is full; retry later"


class StoreMisconfigured(ArtifactError):
    """The store cannot work as configured (scheme, bucket, credentials): a start-up error."""

    public = "the artifact store refused this server's settings; see its log"


def public_text(exc: BaseException) -> str:
    """What may be said of `exc` outside the server: an artifact error's `public` text, else its message."""
    return exc.public if isinstance(exc, ArtifactError) else str(exc)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    sha256: str
    bytes: int


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str, *, prefix: bool = False) -> str:
    """`key` if it is a well-formed key (or, with `prefix`, a key's leading folders, "" for all); else ValueError."""
    if prefix and not key.strip("/"):
        return ""
    parts = key.rstrip("/").split("/") if prefix else key.split("/")
    # A leading '.' is kept for the stores' own files (temp files, recorded digests).
    if not all(_SEGMENT.fullmatch(p) and not p.startswith(".") for p in parts):
        raise ValueError(f"artifact key ({key!r}) must be '/'-separated names of letters, digits, '_', '-', '.' "
                         "that do not start with '.'")
    return key


def verify(key: str, data: bytes, sha256: str | None) -> bytes:
    """`data`, if it matches `sha256` (when one is known)."""
    if sha256 is not None and sha256_of(data) != sha256:
        raise ArtifactCorrupt(f"artifact {key!r} does not match its sha256: it was truncated or changed")
    return data


class ArtifactStore(ABC):
    """Put, get, list and delete objects by key; thread-safe."""

    url: str  # where the store is, for messages (never with credentials)

    @abstractmethod
    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Store `data` at `key`, replacing any object there atomically."""

    @abstractmethod
    def get(self, key: str, sha256: str | None = None) -> bytes:
        """The object's bytes, checked against `sha256` if given, else against the digest recorded by `put`."""

    @abstractmethod
    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Up to `length` bytes of the object from offset `start` (unchecked: a part has no digest)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object if there is one."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key under the folder `prefix`, sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under the folder `prefix`; how many there were."""
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    @abstractmethod
    def check(self) -> None:
        """Raise StoreMisconfigured or StoreUnavailable, with a one-line reason, unless the store works."""

    def create(self) -> bool:
        """Create the store's folder or bucket if it is missing (`rnncast artifacts init`); whether it was."""
        return False

    def at(self, folder: str) -> ArtifactStore:
        """This store seen from `folder`: its keys are relative to it."""
        return Prefixed(self, folder)


def join(folder: str, key: str) -> str:
    return f"{folder.rstrip('/')}/{key}" if folder and key else folder or key


class Prefixed(ArtifactStore):
    """A view of `store` under `folder` (e.g. one model's files)."""

    def __init__(self, store: ArtifactStore, folder: str) -> None:
        self.store, self.folder = store, check_key(folder, prefix=True).rstrip("/")
        self.url = f"{store.url} ({self.folder}/)"

    def put(self, key: str, data: bytes) -> ObjectInfo:
        return self.store.put(join(self.folder, key), data)

    def get(self, key: str, sha256: str | None = None) -> bytes:
        return self.store.get(join(self.folder, key), sha256)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.store.get_range(join(self.folder, key), start, length)

    def exists(self, key: str) -> bool:
        return self.store.exists(join(self.folder, key))

    def delete(self, key: str) -> None:
        self.store.delete(join(self.folder, key))

    def list(self, prefix: str) -> list[str]:
        skip = len(self.folder) + 1 if self.folder else 0
        return [key[skip:] for key in self.store.list(join(self.folder, prefix))]

    def delete_prefix(self, prefix: str) -> int:
        return self.store.delete_prefix(join(self.folder, prefix))

    def check(self) -> None:
        self.store.check()
