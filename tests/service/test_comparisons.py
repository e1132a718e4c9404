"""Comparisons through the real API and two real worker processes."""

from __future__ import annotations

import json

import pytest

from tests.support import TINY, wait_until

PNG = b"\x89PNG\r\n\x1a\n"
TRAIN = {k: v for k, v in TINY.items()} | {"epochs": 4}


def wait_comparison(stack, comparison_id, timeout=120):
    def done():
        view = stack.api.http.get(f"/v1/comparisons/{comparison_id}").json()
        return view if view["status"] != "running" else None

    return wait_until(done, timeout=timeout)


def count(stack, path):
    return stack.api.http.get(path, params={"limit": 1}).json()["count"]


@pytest.fixture(scope="module")
def finished(stack):
    body = {"cells": ["RNN", "LSTM", "GRU"], "seeds": [0, 1], "train": TRAIN,
            "forecast": {"start": 60.0, "horizon": 20}, "name": "study"}
    r = stack.api.http.post("/v1/comparisons", json=body)
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["status"] == "running" and len(created["runs"]) == 6
    # Plots work while it runs (partial figures).
    for kind in ("loss", "predictions"):
        png = stack.api.http.get(f"/v1/comparisons/{created['id']}/{kind}.png")
        assert png.status_code == 200 and png.content.startswith(PNG)
    return wait_comparison(stack, created["id"])


def test_comparison_runs_every_cell_and_seed_and_summarizes(finished):
    assert finished["status"] == "succeeded" and finished["name"] == "study"
    assert {(r["cell"], r["seed"]) for r in finished["runs"]} == {
        (c, s) for c in ("RNN", "LSTM", "GRU") for s in (0, 1)
    }
    for run in finished["runs"]:
        assert run["status"] == "succeeded" and run["final_test_loss"] > 0 and run["forecast_mse"] > 0
        assert run["train_seconds"] > 0 and run["parameters"] > 0 and run["epoch"] == 4
    for cell in ("RNN", "LSTM", "GRU"):
        s = finished["summary"][cell]
        assert s["final_test_loss"]["n"] == s["forecast_mse"]["n"] == 2
        assert s["final_test_loss"]["std"] >= 0 and s["forecast_mse"]["mean"] > 0
    means = {c: finished["summary"][c]["forecast_mse"]["mean"] for c in ("RNN", "LSTM", "GRU")}
    assert finished["best_cell"] == min(means, key=means.get)
    assert finished["finished_at"]


def test_runs_are_ordinary_jobs(stack, finished):
    for run in finished["runs"]:
        job = stack.api.http.get(f"/v1/jobs/{run['job_id']}").json()
        assert job["comparison_id"] == finished["id"] and job["status"] == "succeeded"
        assert job["params"]["cell"] == run["cell"] and job["params"]["seed"] == run["seed"]
        assert job["params"]["epochs"] == 4 and job["name"] == "study"


def test_parallel_runs_equal_a_serial_job_with_the_same_seed(stack, finished):
    run = next(r for r in finished["runs"] if r["cell"] == "LSTM" and r["seed"] == 1)
    job = stack.api.http.post("/v1/jobs", json={"cell": "LSTM", "seed": 1, **TRAIN}).json()
    alone = stack.api.wait_job(job["id"])
    assert alone["metrics"]["test_loss"] == run["final_test_loss"]
    assert alone["metrics"]["train_loss"] == run["final_train_loss"]


def test_finished_comparison_plots_are_pngs_and_it_is_listed(stack, finished):
    for kind in ("loss", "predictions"):
        r = stack.api.http.get(f"/v1/comparisons/{finished['id']}/{kind}.png")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content.startswith(PNG) and len(r.content) > 10_000
    listed = stack.api.http.get("/v1/comparisons", params={"limit": 200}).json()
    assert finished["id"] in [c["id"] for c in listed["data"]]
    assert stack.api.http.post(f"/v1/comparisons/{finished['id']}/cancel").status_code == 409


def test_cancelling_a_comparison_cancels_its_runs(stack):
    body = {"cells": ["RNN", "GRU"], "seeds": [0], "train": TRAIN | {"epochs": 100_000, "checkpoint_every": 0}}
    created = stack.api.http.post("/v1/comparisons", json=body).json()
    wait_until(lambda: any(r["epoch"] >= 1 for r in
                           stack.api.http.get(f"/v1/comparisons/{created['id']}").json()["runs"]))
    r = stack.api.http.post(f"/v1/comparisons/{created['id']}/cancel")
    assert r.status_code == 202
    done = wait_comparison(stack, created["id"], timeout=30)
    assert done["status"] == "cancelled"
    assert all(run["status"] == "cancelled" for run in done["runs"])


BAD = [
    ({"cells": ["RNN", "TCN"]}, "cells"),
    ({"cells": ["RNN", "RNN"]}, "must not repeat"),
    ({"cells": []}, "cells"),
    ({"seeds": list(range(33))}, "seeds (33 values) exceeds"),
    ({"seeds": [1, 1]}, "must not repeat"),
    ({"seeds": [-1]}, "seeds"),
    ({"train": {"epochs": 0}}, "epochs"),
    ({"train": {"cell": "GRU"}}, "cell"),
    ({"train": {"seed": 3}}, "seed"),
    ({"forecast": {"start": 1e9}}, "start"),
    ({"forecast": {"horizon": 0}}, "horizon"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "needle"), BAD)
def test_bad_comparisons_are_422_and_enqueue_nothing(stack, body, needle):
    jobs, comparisons = count(stack, "/v1/jobs"), count(stack, "/v1/comparisons")
    r = stack.api.http.post("/v1/comparisons", json=body)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json()["detail"])
    assert count(stack, "/v1/jobs") == jobs and count(stack, "/v1/comparisons") == comparisons


def test_unknown_comparison_is_404(stack):
    for path in ("", "/loss.png", "/predictions.png"):
        assert stack.api.http.get(f"/v1/comparisons/{'0' * 32}{path}").status_code == 404
    assert stack.api.http.post(f"/v1/comparisons/{'0' * 32}/cancel").status_code == 404


@pytest.mark.parametrize("path", ["/v1/comparisons", "/v1/jobs"])
def test_concurrent_replays_of_one_idempotency_key_all_see_the_one_created_resource(stack, path):
    import threading

    import httpx

    body = {"cells": ["RNN"], "seeds": [3], "train": TRAIN} if path == "/v1/comparisons" else {"cell": "RNN", **TINY}
    headers = {"Idempotency-Key": f"race-{path}-{id(stack)}"}
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        with httpx.Client(base_url=stack.api.url, timeout=30) as http:
            barrier.wait()
            answers.append(http.post(path, json=body, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [202] * 8, [(r.status_code, r.text[:100]) for r in answers]
    ids = {r.json()["id"] for r in answers}
    assert len(ids) == 1 and sum("Idempotent-Replayed" not in r.headers for r in answers) == 1
