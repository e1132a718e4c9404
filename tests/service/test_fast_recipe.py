"""The `fast` recipe through the real API and workers: its per-cell epochs and schedule, and a comparison's time
to the tutorial's accuracy (common.accuracy)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rnncast.client.cli import app as cli
from rnncast.common.accuracy import TUTORIAL_ACCURACY
from rnncast.common.options import RECIPES
from tests.support import TINY, wait_until


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_the_fast_recipe_sets_its_epochs_and_schedule_per_cell_and_given_fields_win(stack, cell):
    small = {k: v for k, v in TINY.items() if k != "epochs"}
    job = stack.api.http.post("/v1/jobs", json={"cell": cell, **small, "recipe": "fast"}).json()
    stack.api.http.post(f"/v1/jobs/{job['id']}/cancel")
    for key, value in RECIPES["fast"][cell].items():
        assert job["params"][key] == value, key
    assert job["progress"]["epochs"] == RECIPES["fast"][cell]["epochs"]
    given = stack.api.http.post("/v1/jobs", json={"cell": cell, **TINY, "recipe": "fast"}).json()
    stack.api.http.post(f"/v1/jobs/{given['id']}/cancel")
    assert given["params"]["epochs"] == TINY["epochs"] and given["params"]["recipe"] == "fast"


def test_left_out_the_epochs_are_the_tutorial_recipes(stack):
    small = {k: v for k, v in TINY.items() if k != "epochs"}
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **small}).json()
    stack.api.http.post(f"/v1/jobs/{job['id']}/cancel")
    assert job["params"]["epochs"] == 500 and job["progress"]["epochs"] == 500


def _finished(stack, body):
    r = stack.api.http.post("/v1/comparisons", json=body)
    assert r.status_code == 202, r.text
    url = f"/v1/comparisons/{r.json()['id']}"
    view = wait_until(lambda: (v := stack.api.http.get(url).json())["status"] != "running" and v, timeout=180)
    assert view["status"] == "succeeded", view
    return view


def test_a_fast_comparison_on_the_tutorials_problem_reports_each_cells_time_to_its_accuracy(stack):
    # The tutorial's problem (its sine, model, window, batch and forecast), two epochs: too few to reach it.
    view = _finished(stack, {"cells": ["RNN", "LSTM", "GRU"], "seeds": [0], "train": {"recipe": "fast", "epochs": 2}})
    for run in view["runs"]:
        assert run["cpu_seconds"] > 0 and run["train_seconds"] > 0
    reports = view["time_to_accuracy"]
    assert set(reports) == {"RNN", "LSTM", "GRU"}
    for cell, report in reports.items():
        run = next(r for r in view["runs"] if r["cell"] == cell)
        assert report["n"] == 1 and report["epochs"] == 2 and report["reached"] is False
        assert report["cpu_seconds"] == pytest.approx(run["cpu_seconds"])
        assert report["wall_seconds"] == pytest.approx(run["train_seconds"])
        assert report["test_mse"] == pytest.approx(run["final_test_loss"])
        assert report["forecast_mse"] == pytest.approx(run["forecast_mse"])
        assert (report["target_test_mse"], report["target_forecast_mse"]) == TUTORIAL_ACCURACY[cell]


def test_another_problem_has_no_tutorial_accuracy_to_report(stack):
    view = _finished(stack, {"cells": ["GRU"], "seeds": [0], "train": {**TINY, "recipe": "fast"},
                             "forecast": {"start": 60.0, "horizon": 20}})
    assert view["time_to_accuracy"] is None and view["runs"][0]["cpu_seconds"] > 0


def test_cli_compare_with_the_fast_recipe_prints_each_cells_time_to_the_tutorials_accuracy(stack):
    # docs/guides/comparisons.md's `rnncast compare --recipe fast --seeds 0,1,2 --watch`, with two epochs.
    out = CliRunner().invoke(cli, ["compare", "--recipe", "fast", "--cells", "LSTM", "--seeds", "0", "--epochs", "2",
                                   "--watch", "--url", stack.api.url], env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    assert "LSTM: 2 epochs" in out.output and "s CPU per run" in out.output
    assert "not at the tutorial's 500-epoch accuracy" in out.output
