"""docker-compose.yml cannot run here (no Docker): check it by reading, and check its commands parse."""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from rnncast.client.cli import app
from tests.support import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_redis_persists_with_aof_and_has_a_healthcheck():
    redis = COMPOSE["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "appendfsync" in " ".join(command) and redis["healthcheck"]
    # Redis is the broker too: it must never evict a queued task or a job record.
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_api_requires_a_key_and_waits_for_healthy_redis():
    api = COMPOSE["services"]["api"]
    assert api["command"][:3] == ["api", "--host", "0.0.0.0"]
    assert "RNNCAST_API_KEY" in api["environment"] and "?" in api["environment"]["RNNCAST_API_KEY"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy" and api["healthcheck"]


def devices(service: dict) -> list[dict]:
    """The devices a compose service reserves (none: [])."""
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


def test_the_default_file_runs_without_a_gpu_and_shares_nothing_but_redis_and_s3():
    for name, service in COMPOSE["services"].items():
        assert devices(service) == [], name  # no GPU reservation: `docker compose up` runs on any host
    worker = COMPOSE["services"]["worker"]
    assert worker["environment"]["RNNCAST_DEVICE"] == "cpu"
    assert "train" in worker["command"][worker["command"].index("--queues") + 1]
    for name in ("api", "worker", "predict-worker"):
        service = COMPOSE["services"][name]
        assert "volumes" not in service, name  # no disk shared between the API and the workers
        env = service["environment"]
        assert env["RNNCAST_ARTIFACTS"].startswith("s3://") and env["RNNCAST_S3_ENDPOINT_URL"] == "http://s3:8333"
        assert service["depends_on"]["s3-init"]["condition"] == "service_completed_successfully"


def gpu_workers(services: dict) -> dict[str, dict]:
    return {name: service for name, service in services.items() if devices(service)}


@pytest.mark.parametrize("path", [ROOT / "docker-compose.gpu.yml", ROOT / "deploy" / "host-b.yml"],
                         ids=lambda p: p.name)
def test_one_training_worker_per_gpu_one_service_per_device(path):
    services = yaml.safe_load(path.read_text())["services"]
    gpus = gpu_workers(services)
    assert gpus, path.name
    reserved = []
    for name, service in gpus.items():
        (device,) = devices(service)
        assert device["capabilities"] == ["gpu"] and "count" not in device, name  # count: 1 is always GPU 0
        (gpu,) = device["device_ids"]
        assert name == f"worker-gpu{gpu}", name
        reserved.append(gpu)
        assert service["environment"]["RNNCAST_DEVICE"] == "cuda", name
        assert service["build"]["args"]["TORCH_INDEX"] == "${TORCH_INDEX:-}", name  # a CUDA build of torch
        assert service["image"] != COMPOSE["services"]["worker"]["image"], name  # not the CPU image's tag
    assert len(set(reserved)) == len(reserved)
    if path.name == "docker-compose.gpu.yml":
        assert {name for name in services if name not in gpus} == {"worker"}
        assert services["worker"]["profiles"]  # the CPU training worker stays off on a GPU host
        for service in gpus.values():
            assert service["extends"] == {"file": "docker-compose.yml", "service": "worker"}
            assert service["depends_on"] == COMPOSE["services"]["worker"]["depends_on"]


def test_s3_is_a_pinned_seaweedfs_with_persistent_data_and_a_bucket_made_before_the_services():
    s3 = COMPOSE["services"]["s3"]
    image, _, tag = s3["image"].partition(":")
    assert image == "chrislusf/seaweedfs" and tag[0].isdigit()  # pinned, not latest
    assert s3["command"][0] == "server" and "-s3" in s3["command"] and s3["healthcheck"]
    assert any(v.endswith(":/data") for v in s3["volumes"])
    init = COMPOSE["services"]["s3-init"]
    assert init["command"] == ["artifacts", "init"] and init["depends_on"]["s3"]["condition"] == "service_healthy"


def test_two_host_files_share_only_redis_and_s3():
    host_a = yaml.safe_load((ROOT / "deploy" / "host-a.yml").read_text())["services"]
    host_b = yaml.safe_load((ROOT / "deploy" / "host-b.yml").read_text())["services"]
    assert set(host_b) == set(gpu_workers(host_b)) and {"redis", "s3", "api", "predict-worker"} <= set(host_a)
    worker = host_b["worker-gpu0"]
    assert "volumes" not in worker
    env = worker["environment"]
    assert "${HOST_A" in env["RNNCAST_REDIS_URL"] and "${HOST_A" in env["RNNCAST_S3_ENDPOINT_URL"]
    assert env["RNNCAST_ARTIFACTS"] == host_a["api"]["environment"]["RNNCAST_ARTIFACTS"]
    assert "6379:6379" in host_a["redis"]["ports"][0] and "8333:8333" in host_a["s3"]["ports"][0]
    for services in (host_a, host_b):
        for name, service in services.items():
            if service.get("image", "").startswith("rnncast") and "command" in service:
                result = CliRunner().invoke(app, [*service["command"], "--help"])
                assert result.exit_code == 0, (name, result.output)


COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "deploy" / "host-a.yml", ROOT / "deploy" / "host-b.yml"]
_PORT = re.compile(r"^(?P<host>.*):(?P<published>\d+(-\d+)?):(?P<target>\d+(-\d+)?)(/\w+)?$")


def published_on(port: str | dict) -> str:
    """The host address a compose `ports` entry publishes on ('' for every interface)."""
    if isinstance(port, dict):
        return str(port.get("host_ip", ""))
    match = _PORT.match(str(port))
    return match.group("host") if match else ""


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_no_published_port_binds_every_interface(path):
    for name, service in yaml.safe_load(path.read_text())["services"].items():
        for port in service.get("ports", []):
            host = published_on(port).strip("[]")
            assert host and host not in ("0.0.0.0", "::"), (path.name, name, port)


def test_host_a_publishes_redis_and_s3_on_its_private_address_with_the_password_from_a_file():
    text = (ROOT / "deploy" / "host-a.yml").read_text()
    host_a = yaml.safe_load(text)
    for name in ("redis", "s3"):
        assert all(published_on(p).startswith("${PRIVATE_ADDR") for p in host_a["services"][name]["ports"]), name
    assert "redis_password" in host_a["secrets"] and "file" in host_a["secrets"]["redis_password"]
    redis = host_a["services"]["redis"]
    assert redis["secrets"] == ["redis_password"] and "/run/secrets/redis_password" in " ".join(redis["command"])
    assert "--requirepass" not in " ".join(redis["command"])  # a password on a command line shows in `ps`
    assert "RNNCAST_REDIS_PASSWORD" not in text.replace("RNNCAST_REDIS_PASSWORD_FILE", "")  # in no variable
    host_b = yaml.safe_load((ROOT / "deploy" / "host-b.yml").read_text())
    for service in (host_a["services"]["api"], host_a["services"]["predict-worker"], host_b["services"]["worker-gpu0"]):
        env = service["environment"]
        assert "@" not in env["RNNCAST_REDIS_URL"]
        assert env["RNNCAST_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
        assert service["secrets"] == ["redis_password"]


def test_workers_consume_both_queues_and_forecasts_batch_on_threads():
    services = COMPOSE["services"]
    queues = set()
    for name in ("worker", "predict-worker"):
        command = services[name]["command"]
        queues |= set(command[command.index("--queues") + 1].split(","))
        assert "profiles" not in services[name]
    assert queues == {"train", "predict"}
    predict = services["predict-worker"]["command"]
    assert predict[predict.index("--pool") + 1] == "threads"


def test_every_rnncast_command_in_compose_parses():
    runner = CliRunner()
    for name, service in COMPOSE["services"].items():
        if service.get("image", "").startswith("rnncast") and "command" in service:
            result = runner.invoke(app, [*service["command"], "--help"])
            assert result.exit_code == 0, (name, result.output)
