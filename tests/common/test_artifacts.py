"""The artifact store's contract, on both backends: a local folder and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading

import pytest

from rnncast.common.artifacts import (
    ArtifactCorrupt,
    ArtifactMissing,
    CachedStore,
    LocalStore,
    StoreMisconfigured,
    StoreUnavailable,
    open_store,
)
from rnncast.common.artifacts.s3 import S3Store
from rnncast.common.settings import Settings
from tests.support import ROOT, S3_KEYS, free_port


@pytest.fixture
def s3_env(monkeypatch):
    for key, value in S3_KEYS.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "artifacts")
    server = request.getfixturevalue("s3_server")
    request.getfixturevalue("s3_env")
    return S3Store(f"s3://{server.bucket()}/some/prefix", server.endpoint)


def test_put_get_exists_list_and_delete(store):
    info = store.put("models/a/model.json", b"{}")
    store.put("models/a/model-1.safetensors", b"x" * 1000)
    store.put("models/ab/other.json", b"[]")
    assert info.sha256 == hashlib.sha256(b"{}").hexdigest() and info.bytes == 2
    assert store.get("models/a/model.json") == b"{}"
    assert store.exists("models/a/model.json") and not store.exists("models/a/nothing.json")
    assert store.list("models/a") == ["models/a/model-1.safetensors", "models/a/model.json"]
    assert store.at("models/a").list("") == ["model-1.safetensors", "model.json"]
    assert store.at("models").get("a/model.json", info.sha256) == b"{}"
    assert store.delete_prefix("models/a") == 2
    assert store.list("models/a") == [] and store.list("models/ab") == ["models/ab/other.json"]
    store.delete("models/ab/other.json")
    store.delete("models/ab/other.json")  # deleting what is gone is fine
    with pytest.raises(ArtifactMissing):
        store.get("models/ab/other.json")
    with pytest.raises(FileNotFoundError):  # what core's checkpoints catch
        store.get("never/was")


def test_replacing_an_object_is_atomic_for_readers(store):
    old, new = b"a" * 200_000, b"b" * 300_000
    store.put("d/values.npy", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = store.get("d/values.npy")
            seen.add(data[:1] + bytes([len(data) // 100_000]) + bytes([len(set(data))]))

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(5):
        store.put("d/values.npy", new)
        store.put("d/values.npy", old)
    stop.set()
    reader.join()
    assert seen <= {b"a\x02\x01", b"b\x03\x01"}  # whole old or whole new, never a mix or a part


def test_a_digest_is_checked_on_read(store):
    store.put("c/tensors.bin", b"payload")
    good = hashlib.sha256(b"payload").hexdigest()
    assert store.get("c/tensors.bin", good) == b"payload"
    with pytest.raises(ArtifactCorrupt, match="sha256"):
        store.get("c/tensors.bin", hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ValueError):  # what core's checkpoints catch
        store.get("c/tensors.bin", "0" * 64)


def test_ranged_reads(store):
    store.put("r/v.bin", bytes(range(256)))
    assert store.get_range("r/v.bin", 10, 5) == bytes([10, 11, 12, 13, 14])
    assert store.get_range("r/v.bin", 250, 100) == bytes(range(250, 256))
    assert store.get_range("r/v.bin", 300, 10) == b""


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", "a b", "", "a/.name.sha256", ".hidden"])
def test_malformed_keys_are_refused(store, key):
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_an_empty_prefix_never_deletes_everything(store):
    store.put("keep/me", b"1")
    with pytest.raises(ValueError):
        store.delete_prefix("")
    assert store.exists("keep/me")


def test_a_local_file_changed_on_disk_is_refused_by_its_recorded_digest(tmp_path):
    store = LocalStore(tmp_path)
    store.put("datasets/d/meta.json", b'{"name": "mine"}')
    assert store.get("datasets/d/meta.json") == b'{"name": "mine"}'
    assert store.list("datasets") == ["datasets/d/meta.json"]  # the digest beside it is no object
    (tmp_path / "datasets" / "d" / "meta.json").write_bytes(b'{"name": "theirs"}')
    with pytest.raises(ArtifactCorrupt, match="sha256"):
        store.get("datasets/d/meta.json")
    store.put("datasets/d/meta.json", b"{}")  # a new write records the new digest
    assert store.get("datasets/d/meta.json") == b"{}"
    store.delete_prefix("datasets/d")
    assert not (tmp_path / "datasets" / "d").exists()  # digests go with their files
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "file").write_bytes(b"written before digests were recorded")
    assert store.get("old/file") == b"written before digests were recorded"


def test_s3_object_changed_behind_the_store_is_refused(s3_server, s3_env):
    bucket = s3_server.bucket()
    store = S3Store(f"s3://{bucket}", s3_server.endpoint)
    store.put("x/ckpt", b"good bytes")
    # Another writer replaces the bytes but not the digest recorded with them.
    s3_server.client().put_object(Bucket=bucket, Key="x/ckpt", Body=b"evil bytes",
                                  Metadata={"sha256": hashlib.sha256(b"good bytes").hexdigest()})
    with pytest.raises(ArtifactCorrupt):
        store.get("x/ckpt")


def test_cached_store_serves_known_digests_locally_within_its_bound(s3_server, s3_env, tmp_path):
    bucket = s3_server.bucket()
    remote = S3Store(f"s3://{bucket}", s3_server.endpoint)
    cache = CachedStore(remote, tmp_path / "cache", max_bytes=2500)
    digests = [remote.put(f"m/{i}", bytes([i]) * 1000).sha256 for i in range(3)]
    assert cache.get("m/0", digests[0]) == b"\x00" * 1000
    s3_server.client().delete_object(Bucket=bucket, Key="m/0")
    assert cache.get("m/0", digests[0]) == b"\x00" * 1000  # served from the local copy
    cache.get("m/1", digests[1])
    cache.get("m/2", digests[2])  # 3,000 bytes > 2,500: the least recently used copy goes
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(digests[1:])
    with pytest.raises(ArtifactMissing):
        cache.get("m/0", digests[0])
    (tmp_path / "cache" / digests[1]).write_bytes(b"rotten")  # a damaged copy is fetched again
    assert cache.get("m/1", digests[1]) == b"\x01" * 1000


def test_unknown_scheme_is_refused_by_the_settings():
    with pytest.raises(ValueError, match="unknown scheme 'gs'"):
        Settings(artifacts="gs://bucket/x")
    assert isinstance(open_store(Settings(artifacts="file:///tmp/x")), LocalStore)


def test_bad_s3_configuration_names_its_cause(s3_server, s3_env, monkeypatch):
    bucket = s3_server.bucket()
    with pytest.raises(StoreMisconfigured, match="does not exist"):
        S3Store("s3://no-such-bucket-here", s3_server.endpoint).check()
    with pytest.raises(StoreMisconfigured, match="not a valid S3 bucket"):
        S3Store("s3://Bad_Bucket", s3_server.endpoint)
    with pytest.raises(StoreUnavailable, match="unreachable"):
        S3Store(f"s3://{bucket}", f"http://127.0.0.1:{free_port()}").check()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StoreMisconfigured, match="credentials"):
        S3Store(f"s3://{bucket}", s3_server.endpoint).check()


def _start(env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnncast.client", *command.split()], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", ["api --port 1", "worker --queues train"])
def test_bad_configuration_stops_start_up_with_one_line(s3_server, command, tmp_path):
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("RNNCAST_", "AWS_"))}
    base |= {"RNNCAST_DATA_DIR": str(tmp_path), "RNNCAST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    bucket = s3_server.bucket()
    cases = {
        "unknown scheme": ({"RNNCAST_ARTIFACTS": "ftp://host/x"}, "unknown scheme 'ftp'"),
        "missing bucket": (s3_server.env("s3://missing-bucket"), "does not exist"),
        "credentials": (s3_server.env(f"s3://{bucket}") | {"AWS_SECRET_ACCESS_KEY": "nope"}, "credentials"),
    }
    for name, (extra, reason) in cases.items():
        result = _start(base | extra, command)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1, (name, result.stderr)
        assert reason in lines[0] and lines[0].startswith("rnncast: "), (name, lines)
