"""Training options beyond the tutorial through the real API and workers: params, history, early stopping."""

from __future__ import annotations

import pytest

from rnncast.common.options import RECIPES
from tests.support import TINY


def test_leaving_the_options_out_is_the_tutorial_and_params_show_every_one(stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    params = job["params"]
    assert params["recipe"] == "tutorial" and params["lr_schedule"] == "constant"
    assert params["grad_clip"] is None and params["early_stopping"] is None and params["restore_best"] is False
    assert params["rollout_finetune"] is None and params["input_noise_std"] == 0.0
    done = stack.api.wait_job(job["id"])
    assert done["history"]["lr"] == [TINY["lr"]] * 3
    assert done["best_epoch"] is None and done["stopped_early_at"] is None


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_the_accurate_recipe_fills_in_its_options_per_cell_and_given_fields_win(stack, cell):
    job = stack.api.http.post("/v1/jobs", json={"cell": cell, **TINY, "recipe": "accurate",
                                                "grad_clip": 3.0}).json()
    params = job["params"]
    for key, value in RECIPES["accurate"][cell].items():
        if key != "grad_clip":
            assert params[key] == value, key
    assert params["grad_clip"] == 3.0 and params["recipe"] == "accurate"
    finetune = RECIPES["accurate"][cell].get("rollout_finetune")
    assert job["progress"]["epochs"] == 3 + (finetune["epochs"] if finetune else 0)
    stack.api.http.post(f"/v1/jobs/{job['id']}/cancel")


def test_a_scheduled_run_with_early_stopping_reports_where_it_stopped_and_its_best_epoch(stack):
    body = {"cell": "GRU", **TINY, "epochs": 30, "lr_schedule": "cosine", "min_lr": 0.001,
            "early_stopping": {"patience": 2, "min_delta": 10.0}}
    job = stack.api.http.post("/v1/jobs", json=body).json()
    assert job["params"]["restore_best"] is True  # on with early stopping
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded" and done["stopped_early_at"] == 3 and done["best_epoch"] == 1
    assert len(done["history"]["test_loss"]) == 3 and done["history"]["lr"][0] == TINY["lr"]
    assert done["history"]["lr"][1] < done["history"]["lr"][0]  # cosine: going down
    model = stack.api.http.get(f"/v1/models/{done['model_id']}").json()
    assert model["best_epoch"] == 1 and model["epochs_trained"] == 3


def test_rollout_fine_tuning_runs_after_the_main_epochs(stack):
    body = {"cell": "RNN", **TINY, "rollout_finetune": {"epochs": 2, "horizon": 5, "lr": 0.002}}
    job = stack.api.http.post("/v1/jobs", json=body).json()
    assert job["progress"]["epochs"] == 5
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded" and done["progress"]["epoch"] == 5
    assert done["history"]["lr"] == [TINY["lr"]] * 3 + [0.002] * 2


@pytest.mark.parametrize("body", [
    {"lr_schedule": "sawtooth"}, {"factor": 0.5}, {"grad_clip": 0}, {"early_stopping": {"patience": 0}},
    {"rollout_finetune": {"epochs": 1, "horizon": 0}}, {"recipe": "fastest"}, {"input_noise_std": -1},
    {"warmup_fraction": 2},
])
def test_bad_options_are_422(stack, body):
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, **body})
    assert r.status_code == 422, r.text


def test_a_comparison_takes_the_recipe_per_cell_and_can_track_its_forecast(stack):
    body = {"cells": ["RNN", "GRU"], "seeds": [0], "train": {**TINY, "recipe": "accurate"},
            "forecast": {"start": 60.0, "horizon": 20, "every": 1}}
    r = stack.api.http.post("/v1/comparisons", json=body)
    assert r.status_code == 202, r.text
    study = r.json()
    from tests.support import wait_until

    view = wait_until(lambda: (v := stack.api.http.get(f"/v1/comparisons/{study['id']}").json())["status"] != "running"
                      and v, timeout=120)
    assert view["status"] == "succeeded", view
    for run in view["runs"]:
        job = stack.api.http.get(f"/v1/jobs/{run['job_id']}").json()
        assert job["params"]["lr_schedule"] == RECIPES["accurate"][run["cell"]]["lr_schedule"]
        tracked = job["history"]["forecast_mse"]
        assert len(tracked) == job["progress"]["epochs"] and all(v is not None for v in tracked)
        assert tracked[-1] == pytest.approx(run["forecast_mse"])  # the last one is the run's final forecast
