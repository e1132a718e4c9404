"""Figures never wait behind training: one worker with the default flags trains and draws at once."""

from __future__ import annotations

import time

from tests.support import TINY, Api, RedisServer, start_worker, wait_until, wait_worker_ready

PNG = b"\x89PNG\r\n\x1a\n"


def test_figures_answer_while_the_only_worker_process_trains(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    # `rnncast worker` as it starts by default: train and predict, one prefork process.
    worker = start_worker(server.url, tmp_path / "data", tmp_path / "worker.log", concurrency=1)
    api = Api(server.url, tmp_path / "data", tmp_path / "api.log", extra={"RNNCAST_FORECAST_TIMEOUT": "10"})
    try:
        wait_worker_ready(server.client())
        model = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
        assert api.wait_job(model["id"])["status"] == "succeeded"
        study = api.http.post("/v1/comparisons", json={"cells": ["RNN"], "train": TINY}).json()
        wait_until(lambda: api.http.get(f"/v1/comparisons/{study['id']}").json()["status"] != "running", timeout=60)
        long = api.http.post("/v1/jobs", json={"cell": "LSTM", **TINY, "epochs": 100_000}).json()
        wait_until(lambda: api.http.get(f"/v1/jobs/{long['id']}").json()["progress"]["epoch"] > 0, timeout=60)
        for path in (f"/v1/models/{model['id']}/forecast.png", f"/v1/comparisons/{study['id']}/loss.png",
                     f"/v1/comparisons/{study['id']}/predictions.png"):
            began = time.monotonic()
            r = api.http.get(path)
            assert r.status_code == 200 and r.content.startswith(PNG), (path, r.status_code, r.text[:200])
            assert time.monotonic() - began < 8, path
        assert api.http.get(f"/v1/jobs/{long['id']}").json()["status"] == "running"
        forecast = api.http.post(f"/v1/models/{model['id']}/forecast", json={"start": 50.0, "horizon": 5})
        assert forecast.status_code == 200
        api.http.post(f"/v1/jobs/{long['id']}/cancel")
    finally:
        api.stop()
        worker.stop()
        server.stop()
