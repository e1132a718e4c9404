"""`rnncast up` as a user runs it: no Redis around, one command, Ctrl-C/SIGTERM stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rnncast.service.redis_server import server_binary
from tests.support import ROOT, TINY, free_port, wait_until


def _env(tmp_path: Path, redis_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCAST_")}
    # Only the venv on PATH: no redis-server, so the embedded Valkey is used.
    env["PATH"] = str(Path(sys.executable).parent)
    env["RNNCAST_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env["RNNCAST_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_api_refuses_public_bind_without_key(tmp_path):
    out = subprocess.run([sys.executable, "-m", "rnncast.client", "api", "--host", "0.0.0.0"], cwd=ROOT,
                         env=_env(tmp_path, free_port()), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "RNNCAST_API_KEY" in out.stderr


def test_up_starts_embedded_valkey_trains_a_job_and_stops_everything(tmp_path):
    redis_port, api_port = free_port(), free_port()
    log = open(tmp_path / "up.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rnncast.client", "up", "--port", str(api_port)], cwd=ROOT,
                            env=_env(tmp_path, redis_port), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{api_port}"
    try:
        wait_until(lambda: _ready(url), timeout=90)
        job = httpx.post(f"{url}/v1/jobs", json={"cell": "LSTM", **TINY}).json()
        done = wait_until(lambda: _finished(url, job["id"]), timeout=60)
        assert done["status"] == "succeeded"
        assert list((tmp_path / "data" / "models" / job["id"]).glob("*.safetensors"))
        assert (tmp_path / "data" / "redis" / "appendonlydir").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        log.close()
    text = (tmp_path / "up.log").read_text()
    assert "private Redis-compatible server" in text and f"API at {url}" in text
    for port in (api_port, redis_port):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            raise AssertionError(f"port {port} still answers after shutdown")
        except httpx.TransportError:
            pass


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _finished(url: str, job_id: str) -> dict | None:
    job = httpx.get(f"{url}/v1/jobs/{job_id}").json()
    return job if job["status"] in ("succeeded", "failed", "cancelled") else None


@pytest.mark.parametrize("given", ["in the url", "in a file"])
def test_up_logs_the_redis_url_with_its_password_masked(tmp_path, given):
    password = "up-secret-" + "7" * 20
    redis_port, api_port = free_port(), free_port()
    server = subprocess.Popen([server_binary(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                               "--requirepass", password], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = _env(tmp_path, redis_port)
    if given == "in the url":
        env["RNNCAST_REDIS_URL"] = f"redis://:{password}@127.0.0.1:{redis_port}/0"
    else:  # as the compose files give it: a secret's file, the URL without it
        (tmp_path / "redis_password").write_text(password + "\n")
        env["RNNCAST_REDIS_PASSWORD_FILE"] = str(tmp_path / "redis_password")
    log = open(tmp_path / "up.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rnncast.client", "up", "--port", str(api_port), "--queues", ""],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "API at" in (tmp_path / "up.log").read_text(), timeout=90)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        server.terminate()
        server.wait(timeout=10)
    text = (tmp_path / "up.log").read_text()
    assert f"using Redis at redis://:**@127.0.0.1:{redis_port}/0" in text, text
    assert password not in text
