"""State and files agree (issue 28, items 8-10): `rnncast doctor` reports orphans both ways, a job on a dataset
whose values file is gone is refused at submit, an API started in another folder is told its store is not the
workers', a worker reports its device in /readyz, and a worker asked for CUDA on a host without it stops at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import torch

from tests.support import ROOT, TINY, Api, RedisServer, free_port, wait_until

CLI = [sys.executable, "-m", "rnncast.client"]


def _env(redis_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCAST_")}
    return env | {"RNNCAST_REDIS_URL": redis_url, "RNNCAST_DATA_DIR": data_dir, "RNNCAST_HEARTBEAT_INTERVAL": "1",
                  "RNNCAST_HEARTBEAT_TIMEOUT": "10", "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture
def redis_url(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server.url
    server.stop()


def _upload(api: Api) -> str:
    r = api.http.post("/v1/datasets", json={"name": "waves", "values": [float(i % 17) for i in range(300)]})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_doctor_reports_orphans_both_ways_and_submit_refuses_a_dataset_without_its_file(tmp_path, redis_url):
    data = tmp_path / "data"
    api = Api(redis_url, data, tmp_path / "api.log")
    try:
        kept, emptied = _upload(api), _upload(api)
        (data / "datasets" / emptied / "values.npy").unlink()  # a record whose file is gone
        stray = uuid.uuid4().hex  # files no record names
        (data / "models" / stray).mkdir(parents=True)
        (data / "models" / stray / "model.safetensors").write_bytes(b"x")

        r = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "data": {"dataset_id": emptied}})
        assert r.status_code == 409, r.text
        assert "values file is missing" in r.json()["detail"] and emptied in r.json()["detail"]
        assert api.http.get("/v1/jobs").json()["count"] == 0  # nothing recorded

        out = subprocess.run([*CLI, "doctor"], cwd=ROOT, env=_env(redis_url, str(data)), capture_output=True,
                             text=True, timeout=120)
    finally:
        api.stop()
    lines = out.stdout.splitlines()
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"FAIL dataset records without files: 1: {emptied}" in "\n".join(lines), out.stdout
    assert any(line.startswith(f"FAIL model files without records: 1: {stray}") for line in lines), out.stdout
    assert "ok   dataset files without records: none" in lines, out.stdout
    assert any(line.startswith("ok   artifact store:") for line in lines), out.stdout
    assert any(line.startswith("ok   redis:") for line in lines), out.stdout
    # The test's Redis keeps no AOF and no snapshots: said so.
    assert any(line.startswith("FAIL redis persistence: none") for line in lines), out.stdout
    assert any(line.startswith("FAIL workers on train: none alive") for line in lines), out.stdout
    assert kept not in out.stdout


def test_an_api_in_another_folder_is_refused_and_the_worker_reports_its_device(tmp_path, redis_url):
    """The issue's walk: workers started in one folder, an API in another, both with the default relative data
    folder: the upload lands where the workers cannot read it. The job is refused saying so (not accepted and
    failed), and /readyz shows the worker's device."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    worker_log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([*CLI, "worker", "--queues", "train", "--concurrency", "1"], cwd=here,
                              env=_env(redis_url, ".rnncast", PYTHONPATH=str(ROOT)), stdout=worker_log,
                              stderr=subprocess.STDOUT)
    port = free_port()
    api_log = open(tmp_path / "api.log", "wb")
    api = subprocess.Popen([*CLI, "api", "--port", str(port)], cwd=there,
                           env=_env(redis_url, ".rnncast", PYTHONPATH=str(ROOT)), stdout=api_log,
                           stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        ready = wait_until(lambda: _readyz(url), timeout=120)
        [device] = ready["devices"]
        assert device["queues"] == ["train"] and device["device"] == "cpu", device
        assert device["device_name"] and device["memory_bytes"] > 0, device
        r = httpx.post(f"{url}/v1/datasets", json={"name": "w", "values": [float(i % 9) for i in range(300)]})
        assert r.status_code == 201, r.text
        assert (there / ".rnncast" / "datasets" / r.json()["id"] / "values.npy").is_file()
        job = httpx.post(f"{url}/v1/jobs", json={"cell": "GRU", **TINY, "data": {"dataset_id": r.json()["id"]}})
        assert job.status_code == 409, job.text
        detail = job.json()["detail"]
        assert str(here / ".rnncast") in detail and str(there / ".rnncast") in detail, detail
    finally:
        for proc in (api, worker):
            proc.terminate()
            proc.wait(timeout=60)
        worker_log.close()
        api_log.close()


def _readyz(url: str) -> dict | None:
    try:
        r = httpx.get(f"{url}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has CUDA")
def test_a_worker_asked_for_cuda_on_a_host_without_it_stops_with_one_line(tmp_path):
    out = subprocess.run([*CLI, "worker", "--queues", "train"], cwd=ROOT,
                         env=_env(f"redis://127.0.0.1:{free_port()}/0", str(tmp_path / "data"), RNNCAST_DEVICE="cuda"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "RNNCAST_DEVICE=cuda" in lines[0] and "CUDA" in lines[0] and "RNNCAST_DEVICE=cpu" in lines[0], lines[0]


def test_settings_resolve_the_data_folder_once(tmp_path):
    code = ("from rnncast.common.settings import Settings; s = Settings(); "
            "print(s.data_dir); print(s.artifacts_url)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNCAST_")} | {"RNNCAST_DATA_DIR": "d"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == [str(tmp_path / "d"), str(tmp_path / "d")], out.stderr
    assert Path(out.stdout.split()[0]).is_absolute()


def test_a_gpu_workers_heartbeat_reaches_readyz_and_metrics(tmp_path, redis_url):
    """What a GPU worker's heartbeat says (worker.devices.describe on a CUDA host) is what /readyz lists and
    /metrics exports; a CPU worker adds no GPU series. (The heartbeat is written here as a worker writes it: this
    host has no GPU.)"""
    from rnncast.common.store.sync import JobStore

    jobs = JobStore.from_url(redis_url)
    gpu = {"queues": ["train"], "device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3",
           "memory_bytes": 85 * 2**30, "memory_used_bytes": 3 * 2**30, "utilization": 0.42}
    jobs.register_worker("rnncast-1@gpu-host", gpu)
    jobs.register_worker("rnncast-2@cpu-host", {"queues": ["predict"], "device": "cpu", "device_name": "x86",
                                                "memory_bytes": 2**30})
    api = Api(redis_url, tmp_path / "data", tmp_path / "api.log")
    try:
        devices = {d["name"]: d for d in api.http.get("/readyz").json()["devices"]}
        assert devices["rnncast-1@gpu-host"] == {"name": "rnncast-1@gpu-host", **gpu}
        labels = {"device": "cuda:0", "name": "NVIDIA H100 80GB HBM3", "worker": "rnncast-1@gpu-host"}
        gpus = _gpu_series(api.http.get("/metrics").text)
        assert gpus == {("rnncast_gpu_memory_used_bytes", *labels.values()): 3 * 2**30,
                        ("rnncast_gpu_memory_total_bytes", *labels.values()): 85 * 2**30,
                        ("rnncast_gpu_utilization", *labels.values()): 0.42}, gpus
        jobs.unregister_worker("rnncast-1@gpu-host")  # gone: its series go with it
        assert _gpu_series(api.http.get("/metrics").text) == {}
    finally:
        api.stop()


def _gpu_series(text: str) -> dict[tuple[str, ...], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, s.labels["device"], s.labels["name"], s.labels["worker"]): s.value
            for family in text_string_to_metric_families(text) if family.name.startswith("rnncast_gpu_")
            for s in family.samples}
