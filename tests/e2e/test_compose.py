"""docker-compose.yml cannot run here (no Docker): check it by reading, and check its commands parse."""

from __future__ import annotations

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


def test_worker_reserves_a_gpu_and_shares_the_data_volume():
    worker = COMPOSE["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert any(v.endswith(":/data") for v in worker["volumes"])
    assert worker["environment"]["RNNCAST_DATA_DIR"] == "/data"
    assert "train" in worker["command"][worker["command"].index("--queues") + 1]


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
