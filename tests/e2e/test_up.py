"""`rnncast up` as a user runs it: no Redis around, one command, Ctrl-C/SIGTERM stops all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

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
        # `up` says each part as it is ready and `try:` once all are: /readyz can answer 200 before its last line.
        wait_until(lambda: "try:" in (tmp_path / "up.log").read_text() and _ready(url), timeout=90)
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
    assert f"using the server RNNCAST_REDIS_URL names, redis://:**@127.0.0.1:{redis_port}/0" in text, text
    assert password not in text


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_up_runs_its_own_redis_with_aof_even_when_one_listens_on_the_default_port(tmp_path):
    """No RNNCAST_REDIS_URL: `up` does not adopt the server on :6379 (this machine may have one without
    persistence); it starts its own, AOF under the data folder, and says each part once it is ready."""
    foreign = None
    if not _listening(6379):  # make sure a server listens there, as on a developer's machine
        foreign = subprocess.Popen([server_binary(), "--port", "6379", "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(6379), timeout=15)
    env = _env(tmp_path, free_port())
    del env["RNNCAST_REDIS_URL"]
    api_port = free_port()
    log = open(tmp_path / "up.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rnncast.client", "up", "--port", str(api_port), "--workers", "1"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{api_port}"
    try:
        wait_until(lambda: "try:" in (tmp_path / "up.log").read_text(), timeout=180)
        job = httpx.post(f"{url}/v1/jobs", json={"cell": "GRU", **TINY}).json()
        assert wait_until(lambda: _finished(url, job["id"]), timeout=60)["status"] == "succeeded"
        assert (tmp_path / "data" / "redis" / "appendonlydir").is_dir()
        text = (tmp_path / "up.log").read_text()
        [said] = [line for line in text.splitlines() if "private Redis-compatible server at" in line]
        private = int(said.split("redis://127.0.0.1:")[1].split("/")[0])
        assert private != 6379, said
        client = redis.Redis(port=private)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.exists(f"rnncast:job:{job['id']}")
        if foreign is not None:  # the server on :6379 is ours to read: it never saw the job
            assert not redis.Redis(port=6379).keys("rnncast:*")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        log.close()
        if foreign is not None:
            foreign.terminate()
            foreign.wait(timeout=10)
    lines = [line.split("rnncast up: ", 1)[1] for line in text.splitlines() if "rnncast up: " in line]
    # One line per part, the try: line after every part is ready; the children's own logs are in their files.
    parts = [line.split(":")[0].split(" at ")[0] for line in lines[:lines.index(next(x for x in lines
                                                                                  if x.startswith("try:")))]]
    assert parts == ["redis", "train worker", "predict worker", "API"], lines
    assert "celery@" not in text and "Uvicorn running" not in text, text
    assert (tmp_path / "data" / "logs" / "api.log").read_text()


def test_a_second_up_on_a_taken_port_says_so_and_exits_non_zero(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "rnncast.client", "up", "--port", str(port), "--queues", ""],
                             cwd=ROOT, env=_env(tmp_path, free_port()), capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert f"port {port} on 127.0.0.1 is taken" in text, text
    assert "API at" not in text and "try:" not in text and "started" not in text, text


def test_make_clean_removes_the_data_folder_with_its_redis_files(tmp_path):
    """The records (up's own Redis, its AOF under the data folder) and the files go together (a dry run: the
    real one would remove this checkout's virtualenv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCAST_")}
    default = subprocess.run(["make", "-n", "clean"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert '".rnncast"' in default.stdout, default.stdout
    env["RNNCAST_DATA_DIR"] = str(tmp_path / "data")
    named = subprocess.run(["make", "-n", "clean"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert f'"{tmp_path / "data"}"' in named.stdout, named.stdout
