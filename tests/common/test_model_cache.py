"""The worker's model disk cache (common.artifacts.CachedStore) keeps only sha256-named files, removes temp
files a dead writer left, and evicts under a lock that other processes honour."""

from __future__ import annotations

import fcntl
import os
import threading
import time

from rnncast.common.artifacts import CachedStore, LocalStore


def _remote(tmp_path):
    remote = LocalStore(tmp_path / "remote")
    return remote, [remote.put(f"m/{i}", bytes([i]) * 1000).sha256 for i in range(3)]


class Unchecked(LocalStore):
    """A store that does not check the digest it is given (the cache must not rely on it)."""

    def get(self, key: str, sha256: str | None = None) -> bytes:
        return super().get(key)


def test_only_sha256_names_are_cached(tmp_path):
    remote = Unchecked(tmp_path / "remote")
    digest = remote.put("m/0", b"\x00" * 1000).sha256
    cache = CachedStore(remote, tmp_path / "cache", max_bytes=10_000)
    for name in ["../escape", digest.upper(), digest[:63]]:
        assert cache.get("m/0", name) == b"\x00" * 1000  # read through, never a path in the cache
    assert list((tmp_path / "cache").iterdir()) == []
    assert not (tmp_path / "escape").exists()
    cache.get("m/0", digest)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [digest]


def test_stale_temp_files_are_removed_and_fresh_ones_kept(tmp_path):
    remote, digests = _remote(tmp_path)
    root = tmp_path / "cache"
    cache = CachedStore(remote, root, max_bytes=10_000)
    stale, fresh = root / f".{digests[0]}.dead.tmp", root / f".{digests[1]}.live.tmp"
    stale.write_bytes(b"x" * 500)
    fresh.write_bytes(b"x" * 500)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.get("m/2", digests[2])
    assert not stale.exists() and fresh.exists()


def test_eviction_waits_for_another_process_holding_the_folder(tmp_path):
    remote, digests = _remote(tmp_path)
    root = tmp_path / "cache"
    cache = CachedStore(remote, root, max_bytes=10_000)
    fd = os.open(root, os.O_RDONLY)  # another open file: flock conflicts as between two processes
    fcntl.flock(fd, fcntl.LOCK_EX)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (cache.get("m/0", digests[0]), done.set()))
    thread.start()
    try:
        assert not done.wait(0.5)  # the file is written, its eviction pass waits for the lock
    finally:
        os.close(fd)
    assert done.wait(10)
    thread.join()
