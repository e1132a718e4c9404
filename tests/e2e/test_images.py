"""The Docker images and healthchecks, checked without Docker: the worker image pins torch as `make setup` does,
the API image's install set has no torch and the API runs without it, and a worker's healthcheck reads its
heartbeat without loading torch."""

from __future__ import annotations

import importlib.metadata
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from packaging.requirements import Requirement

from rnncast.worker.alive import container_worker
from tests.support import ROOT, TINY, RedisServer, free_port, start_worker, wait_until, wait_worker_ready

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "docker-compose.gpu.yml", ROOT / "deploy" / "host-a.yml",
                 ROOT / "deploy" / "host-b.yml"]


def stages() -> dict[str, str]:
    """The Dockerfile's stages by name: each one's text from its FROM line on."""
    parts = re.split(r"^(?=FROM )", DOCKERFILE, flags=re.M)
    return {re.match(r"FROM \S+ AS (\S+)", part).group(1): part for part in parts[1:]}  # type: ignore[union-attr]


def build_arg(name: str) -> str:
    return re.search(rf"^ARG {name}=(.*)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]


def test_the_worker_image_pins_torch_as_make_setup_does_a_cpu_build_by_default():
    makefile = (ROOT / "Makefile").read_text()
    assert build_arg("TORCH_SPEC") == re.search(r"^TORCH_SPEC \?= (.*)$", makefile, re.M).group(1)  # type: ignore
    assert build_arg("TORCH_INDEX").endswith("/whl/cpu")
    worker = stages()["worker"]
    assert 'pip install ${TORCH_INDEX:+--index-url $TORCH_INDEX} "$TORCH_SPEC"' in worker
    assert worker.index('"$TORCH_SPEC"') < worker.index("RUN pip install .")  # torch first: pip keeps that build
    assert list(stages())[-1] == "worker"  # the default target


def requirement_closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements install, following the installed distributions' metadata."""
    seen: set[str] = set()
    todo = [(Requirement(line), "") for line in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        for wanted in [""] * (name not in seen) + sorted(req.extras):
            for line in importlib.metadata.distribution(name).requires or []:
                todo.append((Requirement(line), wanted))
        seen.add(name)
    return seen


def test_the_api_image_installs_rnncast_without_torch():
    api = stages()["api"]
    assert "deploy/requirements.py --without torch" in api and "pip install --no-deps ." in api
    assert "TORCH" not in api
    out = subprocess.run([sys.executable, "deploy/requirements.py", "--without", "torch"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out and not any(line.startswith("torch") for line in out)
    closure = requirement_closure(out)
    assert "fastapi" in closure and "torch" not in closure, sorted(closure)
    everything = requirement_closure(importlib.metadata.distribution("rnncast").requires or [])
    assert "torch" in everything  # the check can see torch where it is


# `rnncast ...` as in an image without torch: any import of torch fails.
NO_TORCH = ("import sys; sys.modules['torch'] = None; from rnncast.client.cli import main; "
            "sys.argv[0] = 'rnncast'; main()")


def test_the_api_serves_and_initialises_the_store_without_torch(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    env = {"PATH": str(Path(sys.executable).parent), "RNNCAST_REDIS_URL": redis.url,
           "RNNCAST_DATA_DIR": str(tmp_path / "data")}
    init = subprocess.run([sys.executable, "-c", NO_TORCH, "artifacts", "init"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0 and init.stdout.endswith(": created\n"), init.stdout + init.stderr
    port = free_port()
    log = open(tmp_path / "api.log", "wb")
    api = subprocess.Popen([sys.executable, "-c", NO_TORCH, "api", "--port", str(port)], cwd=ROOT, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url, api), timeout=60)
        dataset = httpx.post(f"{url}/v1/datasets", json={"name": "waves", "values": [i % 7 for i in range(300)]})
        assert dataset.status_code == 201, dataset.text
        job = httpx.post(f"{url}/v1/jobs", json={"cell": "GRU", **TINY})
        assert job.status_code == 202 and job.json()["status"] == "queued", job.text
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=30)
        log.close()
        redis.stop()


def _answers(url: str, proc: subprocess.Popen) -> bool:
    assert proc.poll() is None, "the API exited without torch"
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def worker_healthchecks() -> list[list[str]]:
    """Every worker service's healthcheck command, in every compose file."""
    found = []
    for path in COMPOSE_FILES:
        for name, service in yaml.safe_load(path.read_text())["services"].items():
            if service.get("command", [None])[0] == "worker":
                assert "healthcheck" in service, (path.name, name)
                found.append(service["healthcheck"]["test"])
    return found


def run_check(command: list[str], node: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A healthcheck's `rnncast ...` command, run here under -X importtime, for the worker `node`."""
    assert command[:2] == ["CMD", "rnncast"], command  # exec form: no shell, no $HOSTNAME to expand
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "rnncast.client", *command[2:], node],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def imported(stderr: str) -> set[str]:
    """The modules an `-X importtime` run imported."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_the_worker_healthcheck_reads_the_heartbeat_without_loading_torch(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    env = {"PATH": str(Path(sys.executable).parent), "RNNCAST_REDIS_URL": redis.url,
           "RNNCAST_DATA_DIR": str(tmp_path / "data"), "RNNCAST_HEARTBEAT_INTERVAL": "1",
           "RNNCAST_HEARTBEAT_TIMEOUT": "10"}
    try:
        _check_worker_health(tmp_path, redis, env)
    finally:
        redis.stop()


def _check_worker_health(tmp_path, redis, env):
    commands = worker_healthchecks()
    assert len(commands) >= 4 and all(c == ["CMD", "rnncast", "worker-alive"] for c in commands), commands
    assert container_worker() == f"rnncast-1@{socket.gethostname()}"  # `rnncast worker` as a container's PID 1
    command = commands[0]
    worker = start_worker(redis.url, tmp_path / "data", tmp_path / "worker.log", queues="train",
                          extra={"RNNCAST_HEARTBEAT_INTERVAL": "1", "RNNCAST_HEARTBEAT_TIMEOUT": "10"})
    node = f"rnncast-{worker.proc.pid}@{socket.gethostname()}"
    try:
        before = run_check(command, node, env)
        wait_worker_ready(redis.client())
        alive = run_check(command, node, env)
        assert alive.returncode == 0, alive.stderr[-2000:]
        modules = imported(alive.stderr)
        assert "rnncast.worker.alive" in modules and not {"torch", "rnncast.worker.app"} & modules
    finally:
        worker.stop()
    assert before.returncode == 1 and "no heartbeat" in before.stderr.splitlines()[-1]
    gone = run_check(command, node, env)  # a worker stopped says goodbye: unhealthy at once
    assert gone.returncode == 1 and f"worker {node} has no heartbeat" in gone.stderr
    other = run_check(command, f"rnncast-1@not-{socket.gethostname()}", env)
    assert other.returncode == 1
    redis.stop()
    down = run_check(command, node, env)
    assert down.returncode == 1 and "Redis does not answer" in down.stderr


def test_the_api_and_s3_init_run_the_image_without_torch_and_the_workers_the_one_with_it():
    for path in COMPOSE_FILES:
        for name, service in yaml.safe_load(path.read_text())["services"].items():
            command = service.get("command", ["worker"] if "extends" in service else [None])
            if command[0] in ("api", "artifacts"):
                assert service["build"]["target"] == "api" and service["image"] == "rnncast-api:latest", name
            elif command[0] == "worker":
                assert service["build"]["target"] == "worker" and service["image"] != "rnncast-api:latest", name


def test_the_worker_image_and_make_setup_build_the_compiled_code_once_where_workers_read_it():
    """core.compiled is run at build time, not in a container's first GRU job: after rnncast is installed, into a
    NUMBA_CACHE_DIR the worker user owns (numba only reads a cache folder it could write)."""
    worker = stages()["worker"]
    warm = "python -m rnncast.core.compiled"
    assert worker.index("RUN pip install .") < worker.index("ENV NUMBA_CACHE_DIR=") < worker.index(warm)
    assert "chown -R rnncast $NUMBA_CACHE_DIR" in worker and worker.index(warm) < worker.index("USER rnncast")
    makefile = (ROOT / "Makefile").read_text()
    assert makefile.index('pip install -q -e ".[dev]"') < makefile.index(f"$(BIN)/{warm}")
    out = subprocess.run([sys.executable, "-m", "rnncast.core.compiled"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("compiled code ready in "), out
