"""Datasets through the real API, workers and Redis: uploads, refusals, training, forecasts, backtests, deletion."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from rnncast.common.series import generate
from tests.support import TINY, Api

PNG = b"\x89PNG\r\n\x1a\n"
# A tiny model for series of ~200 values.
SMALL = {k: v for k, v in TINY.items() if k != "data"}


def wave(n: int = 240, period: float = 24.0, trend: float = 0.02) -> np.ndarray:
    t = np.arange(n)
    return 10 + 3 * np.sin(2 * math.pi * t / period) + trend * t


def upload(api: Api, values: np.ndarray | list[float], name: str = "wave", step: float = 1.0) -> dict:
    r = api.http.post("/v1/datasets", json={"name": name, "values": list(map(float, values)), "step": step})
    assert r.status_code == 201, r.text
    return r.json()


def stored_ids(data_dir: Path) -> set[str]:
    folder = data_dir / "datasets"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture(scope="module")
def dataset(stack) -> dict:
    return upload(stack.api, wave(), name="trend and season")


@pytest.fixture(scope="module")
def model(stack, dataset) -> dict:
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **SMALL, "epochs": 4,
                                                "data": {"dataset_id": dataset["id"]}}).json()
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    return stack.api.http.get(f"/v1/models/{done['model_id']}").json()


def test_a_json_upload_is_stored_with_its_digest_stats_and_pages_of_values(stack, dataset):
    values = wave()
    assert dataset["name"] == "trend and season" and dataset["length"] == 240 and dataset["step"] == 1.0
    assert dataset["sha256"] == hashlib.sha256(values.astype("<f8").tobytes()).hexdigest()
    assert dataset["stats"]["mean"] == pytest.approx(values.mean())
    assert dataset["stats"]["std"] == pytest.approx(values.std())
    assert (dataset["stats"]["min"], dataset["stats"]["max"]) == pytest.approx((values.min(), values.max()))
    assert stack.api.http.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    page = stack.api.http.get(f"/v1/datasets/{dataset['id']}/values", params={"offset": 230, "limit": 50}).json()
    assert page["length"] == 240 and page["offset"] == 230
    np.testing.assert_array_equal(page["values"], values[230:])
    past = stack.api.http.get(f"/v1/datasets/{dataset['id']}/values", params={"offset": 1000}).json()
    assert past["values"] == []
    listed = stack.api.http.get("/v1/datasets", params={"limit": 1000}).json()
    assert dataset["id"] in [d["id"] for d in listed["data"]] and listed["count"] >= 1
    # Stored without pickle: a plain .npy file and JSON metadata.
    folder = stack.data_dir / "datasets" / dataset["id"]
    np.testing.assert_array_equal(np.load(folder / "values.npy", allow_pickle=False), values)
    plot = stack.api.http.get(f"/v1/datasets/{dataset['id']}/plot.png")
    assert plot.status_code == 200 and plot.content.startswith(PNG)


def test_csv_uploads_as_a_body_or_a_multipart_file_with_dates_and_a_chosen_column(stack):
    rows = "\n".join(f"2024-01-{d:02d},{d * 1.5},{100 - d}" for d in range(1, 29))
    text = "date,price,stock\n" + rows + "\n"
    r = stack.api.http.post("/v1/datasets", content=text, params={"column": "price", "name": "prices", "step": 2},
                            headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["name"] == "prices" and record["length"] == 28 and record["step"] == 2.0
    assert record["source"] == {"format": "csv", "column": "price", "rows": 28, "time_column": "date"}
    assert (record["frequency"], record["start"], record["end"]) == ("daily", "2024-01-01T00:00:00",
                                                                     "2024-01-28T00:00:00")
    values = stack.api.http.get(f"/v1/datasets/{record['id']}/values").json()["values"]
    assert values == [d * 1.5 for d in range(1, 29)]
    # Multipart: two numeric columns, none named: a 422 that lists them (no silent "last column").
    r = stack.api.http.post("/v1/datasets", files={"file": ("stock.csv", text.encode(), "text/csv")})
    assert r.status_code == 422 and "several numeric columns ['price', 'stock']" in r.text, r.text
    r = stack.api.http.post("/v1/datasets", files={"file": ("stock.csv", text.encode(), "text/csv")},
                            params={"column": "stock"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "stock.csv" and r.json()["source"]["column"] == "stock"
    # No header, semicolons, the column by its index; no time column, no time axis.
    r = stack.api.http.post("/v1/datasets", content="1;2\n2;4\n3;8\n", headers={"Content-Type": "text/csv"},
                            params={"column": "1"})
    assert r.status_code == 201 and r.json()["source"]["column"] == "1", r.text
    assert "frequency" not in r.json()


@pytest.mark.parametrize(("kind", "params"), [
    ("sine", {"period": 30, "amplitude": 2}),
    ("sines", {"components": [{"period": 12}, {"period": 50, "amplitude": 0.5, "phase": 1}]}),
    ("damped_sine", {"decay": 0.01}),
    ("random_walk", {"drift": 0.1, "step_std": 0.5}),
])
def test_generators_make_datasets_with_the_values_they_describe(stack, kind, params):
    spec = {"kind": kind, "points": 300, "noise_std": 0.1, "seed": 7, **params}
    r = stack.api.http.post("/v1/datasets", json={"generator": spec})
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["length"] == 300 and record["source"]["generator"]["kind"] == kind
    got = stack.api.http.get(f"/v1/datasets/{record['id']}/values", params={"limit": 300}).json()["values"]
    np.testing.assert_array_equal(got, generate(record["source"]["generator"]))


BAD_UPLOADS = [
    ("json NaN", {"content": b'{"name": "x", "values": [1, NaN, 2, 3]}',
                  "headers": {"Content-Type": "application/json"}}, "values"),
    ("json too few", {"json": {"name": "x", "values": [1, 2]}}, "values"),
    ("json text", {"json": {"name": "x", "values": [1, "2", 3]}}, "values"),
    ("csv text in a number", {"content": "t,v\n1,1\n2,oops\n3,3\n", "headers": {"Content-Type": "text/csv"},
                              "params": {"column": "v"}}, "row 3, column 'v': 'oops' is not a number"),
    ("csv several numeric columns", {"content": "t,v\n1,1\n2,2\n3,3\n", "headers": {"Content-Type": "text/csv"}},
     "several numeric columns ['t', 'v']: name the one to forecast"),
    ("csv a missing value", {"content": "d,v\n2024-01-01,1\n2024-01-02,\n2024-01-03,3\n",
                             "headers": {"Content-Type": "text/csv"}}, "row 3, column 'v': the value is missing"),
    ("csv a month skipped", {"content": "d,v\n2024-01-01,1\n2024-02-01,2\n2024-03-01,3\n2024-05-01,4\n",
                             "headers": {"Content-Type": "text/csv"}},
     "rows 4 and 5 are 2 months apart where the series is monthly"),
    ("csv unknown missing policy", {"content": "v\n1\n2\n3\n", "headers": {"Content-Type": "text/csv"},
                                    "params": {"missing": "guess"}}, "missing"),
    ("csv nan", {"content": "v\n1\nnan\n3\n", "headers": {"Content-Type": "text/csv"}}, "row 3"),
    ("csv too few rows", {"content": "v\n1\n2\n", "headers": {"Content-Type": "text/csv"}}, "at least 3"),
    ("csv decreasing dates", {"content": "d,v\n2024-01-02,1\n2024-01-03,2\n2024-01-01,3\n",
                              "headers": {"Content-Type": "text/csv"}},
     "row 4: time '2024-01-01' is not after the previous row's '2024-01-03'"),
    ("csv unknown column", {"content": "a,b\n1,2\n3,4\n5,6\n", "headers": {"Content-Type": "text/csv"},
                            "params": {"column": "c"}}, "column 'c' is not in the CSV"),
    ("csv not utf-8", {"content": b"v\n1\n\xff\n3\n", "headers": {"Content-Type": "text/csv"}}, "UTF-8"),
    ("multipart without a file", {"files": {"other": ("a.csv", b"v\n1\n2\n3\n")}}, "'file'"),
]


@pytest.mark.parametrize(("case", "kwargs", "says"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS])
def test_every_bad_upload_is_a_clear_422_that_stores_nothing(stack, case, kwargs, says):
    before_count = stack.api.http.get("/v1/datasets").json()["count"]
    before_files = stored_ids(stack.data_dir)
    r = stack.api.http.post("/v1/datasets", **kwargs)
    assert r.status_code == 422, (case, r.status_code, r.text)
    assert says in r.text, r.text
    assert stack.api.http.get("/v1/datasets").json()["count"] == before_count
    assert stored_ids(stack.data_dir) == before_files


def test_an_unknown_content_type_is_415(stack):
    r = stack.api.http.post("/v1/datasets", content=b"1 2 3", headers={"Content-Type": "application/x-thing"})
    assert r.status_code == 415 and "text/csv" in r.json()["detail"]


def test_the_server_limits_on_points_and_upload_size_apply_to_uploads_only(stack, tmp_path):
    limits = {"RNNCAST_MAX_DATASET_POINTS": "50", "RNNCAST_MAX_UPLOAD_BYTES": "4096",
              "RNNCAST_MAX_BODY_BYTES": "1024"}
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "api.log", extra=limits)
    try:
        before = stored_ids(stack.data_dir)
        rows = "v\n" + "\n".join(str(i) for i in range(51)) + "\n"
        r = api.http.post("/v1/datasets", content=rows, headers={"Content-Type": "text/csv"})
        assert r.status_code == 422 and "51 rows exceed" in r.text and "RNNCAST_MAX_DATASET_POINTS" in r.text
        r = api.http.post("/v1/datasets", json={"generator": {"kind": "sine", "points": 51}})
        assert r.status_code == 422 and "RNNCAST_MAX_DATASET_POINTS (50)" in r.text
        # 2 KB: above the API's body limit, under the upload limit.
        padded = "v\n" + "\n".join(f"{i:.6f}".rjust(40) for i in range(45)) + "\n"
        assert 1024 < len(padded) < 4096
        r = api.http.post("/v1/datasets", content=padded, headers={"Content-Type": "text/csv"})
        assert r.status_code == 201, r.text
        r = api.http.post("/v1/jobs", content=b'{"cell": "GRU", "name": "' + b"x" * 2000 + b'"}',
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        huge = "v\n" + "1\n" * 3000
        r = api.http.post("/v1/datasets", content=huge, headers={"Content-Type": "text/csv"})
        assert r.status_code == 413
        assert stored_ids(stack.data_dir) - before == {r_id for r_id in stored_ids(stack.data_dir) - before}
        assert len(stored_ids(stack.data_dir) - before) == 1
    finally:
        api.stop()


def test_a_job_on_a_dataset_records_it_pinned_and_reports_losses_in_its_units(stack, dataset, model):
    job = stack.api.http.get(f"/v1/jobs/{model['id']}").json()
    data = job["params"]["data"]
    assert data == {"kind": "dataset", "dataset_id": dataset["id"], "sha256": dataset["sha256"], "length": 240,
                    "step": 1.0, "train_fraction": 0.8, "name": dataset["name"]}
    values = wave()
    train_part = values[: int((240 - 10) * 0.8) + 10]
    assert job["scaler"] == pytest.approx({"mean": train_part.mean(), "std": train_part.std()})
    var = job["scaler"]["std"] ** 2
    assert job["metrics"]["test_loss_normalized"] == pytest.approx(job["metrics"]["test_loss"] / var)
    assert len(job["history"]["test_loss"]) == 4
    assert model["scaler"] == job["scaler"]
    assert model["metrics"]["train_loss_normalized"] == pytest.approx(model["metrics"]["train_loss"] / var)


def test_a_job_on_an_unknown_dataset_or_one_too_short_is_422(stack, dataset):
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", "data": {"dataset_id": "0" * 32}})
    assert r.status_code == 422 and "not found" in r.text
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", "sequence_length": 239,
                                              "data": {"dataset_id": dataset["id"]}})
    assert r.status_code == 422 and "leaves no train or no test window" in r.text


def forecast(stack, model_id, **body):
    return stack.api.http.post(f"/v1/models/{model_id}/forecast", json=body)


def test_dataset_forecasts_go_on_from_the_end_an_origin_or_a_context_in_the_series_units(stack, model):
    values = wave()
    end = forecast(stack, model["id"], horizon=6)
    assert end.status_code == 200, end.text
    out = end.json()
    np.testing.assert_allclose(out["x"], np.arange(240, 246))
    assert "exact" not in out and all(abs(y - 10) < 20 for y in out["y"])  # in the series' units
    # From position 230: the 10 values before it are the window; the 6 after it are exact.
    at = forecast(stack, model["id"], origin=230, horizon=6).json()
    np.testing.assert_allclose(at["exact"], values[230:236])
    err = np.array(at["y"]) - values[230:236]
    assert at["mse"] == pytest.approx(float(np.mean(err**2)))
    assert at["max_abs_error"] == pytest.approx(float(np.max(np.abs(err))))
    # Near the end, the errors cover the steps the series has.
    tail = forecast(stack, model["id"], origin=237, horizon=6).json()
    assert len(tail["exact"]) == 3 and tail["mse"] == pytest.approx(float(np.mean(
        (np.array(tail["y"][:3]) - values[237:]) ** 2)))
    # The same window as a context gives the same predictions.
    ctx = forecast(stack, model["id"], context=values[220:230].tolist(), horizon=6).json()
    np.testing.assert_allclose(ctx["y"], at["y"], rtol=1e-12)
    # The forecast from the end is the origin-240 forecast.
    assert forecast(stack, model["id"], origin=240, horizon=6).json()["y"] == out["y"]
    for body, says in [({"start": 3.0}, "not the sine"), ({"origin": 5}, "must be in 10..240"),
                       ({"origin": 241}, "must be in 10..240"), ({"origin": 3, "start": 1.0}, "exactly one")]:
        r = forecast(stack, model["id"], horizon=4, **body)
        assert r.status_code == 422 and says in r.text, (body, r.text)
    png = stack.api.http.get(f"/v1/models/{model['id']}/forecast.png", params={"origin": 200, "horizon": 20})
    assert png.status_code == 200 and png.content.startswith(PNG)
    assert stack.api.http.get(f"/v1/models/{model['id']}/forecast.png").content.startswith(PNG)


def test_a_sine_model_refuses_an_origin_and_a_bare_horizon(stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    done = stack.api.wait_job(job["id"])
    for body, says in [({"origin": 50}, "applies to models trained on a dataset"), ({}, "exactly one of 'start'")]:
        r = forecast(stack, done["model_id"], horizon=4, **body)
        assert r.status_code == 422 and says in r.text, r.text


def seasonal_naive(values: np.ndarray, origin: int, horizon: int, season: int) -> np.ndarray:
    """Written out step by step, as a textbook states it: y(T + h) = y(T + h - season * ceil(h / season))."""
    return np.array([values[origin - 1 + h - season * math.ceil(h / season)] for h in range(1, horizon + 1)])


def scores(truth: np.ndarray, preds: np.ndarray) -> dict:
    err = preds - truth
    smape = 200 * np.abs(err) / (np.abs(truth) + np.abs(preds))
    return {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err))), "smape": float(np.mean(smape)),
            "per_step_mse": (err**2).mean(axis=0)}


def check_backtest(stack, model_id: str, values: np.ndarray, result: dict, horizon: int, seq: int = 10) -> None:
    """Every number of a backtest, recomputed from the model's own forecasts of the windows before its origins."""
    origins = result["origin_positions"]
    preds = np.array([forecast(stack, model_id, context=values[k - seq : k].tolist(), horizon=horizon).json()["y"]
                      for k in origins])
    truth = np.array([values[k : k + horizon] for k in origins])
    season = result["season"]
    baselines = {
        "naive": np.array([[values[k - 1]] * horizon for k in origins]),
        "seasonal_naive": np.array([seasonal_naive(values, k, horizon, season) for k in origins]),
        # plus, per season ahead, the mean change over one season of the values before the origin
        "seasonal_naive_drift": np.array([seasonal_naive(values, k, horizon, season) + np.mean(
            values[season:k] - values[: k - season]) * np.ceil(np.arange(1, horizon + 1) / season) for k in origins]),
    }
    first = result["test_start"]
    scale = np.mean(np.abs(values[season:first] - values[: first - season]))
    for name, got in [("model", preds), *baselines.items()]:
        want = scores(truth, got)
        for metric in ("mse", "mae", "smape"):
            assert result[name][metric] == pytest.approx(want[metric], rel=1e-9, abs=1e-12), (name, metric)
        assert result[name]["mase"] == pytest.approx(want["mae"] / scale, rel=1e-9, abs=1e-12), name
        np.testing.assert_allclose(result[name]["per_step"]["mse"], want["per_step_mse"], rtol=1e-9, atol=1e-12)
    best = min(result[name]["mse"] for name in baselines)
    assert result["best_baseline"] == min(baselines, key=lambda name: result[name]["mse"])
    assert result["skill"] == pytest.approx(1 - result["model"]["mse"] / best)


def test_a_backtest_is_computed_from_the_models_forecasts_and_the_three_baselines(stack, model):
    values = wave()
    r = stack.api.http.post(f"/v1/models/{model['id']}/backtest", json={"origins": 8, "horizon": 5})
    assert r.status_code == 200, r.text
    result = r.json()
    test_start = int((240 - 10) * 0.8) + 10
    assert result["test_start"] == test_start and result["origins"] == 8 and result["horizon"] == 5
    assert result["origin_positions"][0] == test_start and result["origin_positions"][-1] == 240 - 5
    # The season is found from the train part: its period, 24.
    assert (result["season"], result["season_source"]) == (24, "autocorrelation")
    assert len(result["model"]["per_step"]["smape"]) == 5
    check_backtest(stack, model["id"], values, result, 5)
    given = stack.api.http.post(f"/v1/models/{model['id']}/backtest",
                                json={"origins": 3, "horizon": 5, "season": 7}).json()
    assert (given["season"], given["season_source"]) == (7, "given")
    check_backtest(stack, model["id"], values, given, 5)
    png = stack.api.http.get(f"/v1/models/{model['id']}/backtest.png", params={"origins": 8, "horizon": 5})
    assert png.status_code == 200 and png.content.startswith(PNG)
    for body, says in [({"origins": 3, "horizon": 60}, "longer than the test part"),
                       ({"origins": 3, "horizon": 5, "season": 500}, "season (500) must be in")]:
        r = stack.api.http.post(f"/v1/models/{model['id']}/backtest", json=body)
        assert r.status_code == 422 and says in r.text, r.text


def test_a_sine_model_backtests_on_its_own_test_part(stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
    done = stack.api.wait_job(job["id"])
    result = stack.api.http.post(f"/v1/models/{done['model_id']}/backtest", json={"origins": 4, "horizon": 3}).json()
    t = np.linspace(0, 100, 200)
    values = np.sin(2 * math.pi * t / 20)
    assert result["test_start"] == int(190 * 0.8) + 10 and result["season"] in (39, 40)  # 20 / (100 / 199) = 39.8
    check_backtest(stack, done["model_id"], values, result, 3)


def test_a_dataset_in_use_cannot_be_deleted_and_its_models_outlive_it(stack, model):
    ds = upload(stack.api, wave(200), name="short-lived")
    job = stack.api.http.post("/v1/jobs", json={"cell": "LSTM", **SMALL, "epochs": 100_000,
                                                "data": {"dataset_id": ds["id"]}}).json()
    r = stack.api.http.delete(f"/v1/datasets/{ds['id']}")
    assert r.status_code == 409 and job["id"] in r.text
    stack.api.http.post(f"/v1/jobs/{job['id']}/cancel")
    stack.api.wait_job(job["id"])
    done = stack.api.http.post("/v1/jobs", json={"cell": "GRU", **SMALL, "data": {"dataset_id": ds["id"]}}).json()
    trained = stack.api.wait_job(done["id"])
    assert stack.api.http.delete(f"/v1/datasets/{ds['id']}").status_code == 204
    assert stack.api.http.get(f"/v1/datasets/{ds['id']}").status_code == 404
    assert ds["id"] not in stored_ids(stack.data_dir)
    assert stack.api.http.delete(f"/v1/datasets/{ds['id']}").status_code == 404
    # The model keeps its own copy: it forecasts and backtests without the dataset.
    out = forecast(stack, trained["model_id"], origin=190, horizon=5)
    assert out.status_code == 200 and len(out.json()["exact"]) == 5
    r = stack.api.http.post(f"/v1/models/{trained['model_id']}/backtest", json={"origins": 2, "horizon": 3})
    assert r.status_code == 200, r.text
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", "data": {"dataset_id": ds["id"]}})
    assert r.status_code == 422


def test_a_comparison_on_a_dataset_forecasts_each_run_from_the_test_part(stack, dataset):
    body = {"cells": ["RNN", "GRU"], "seeds": [0, 1], "train": {**SMALL, "data": {"dataset_id": dataset["id"]}},
            "forecast": {"horizon": 12}}
    r = stack.api.http.post("/v1/comparisons", json=body)
    assert r.status_code == 202, r.text
    cid = r.json()["id"]

    def ended() -> dict | None:
        view = stack.api.http.get(f"/v1/comparisons/{cid}").json()
        return view if view["status"] != "running" else None

    from tests.support import wait_until
    view = wait_until(ended, timeout=120)
    assert view["status"] == "succeeded", view
    assert all(run["forecast_mse"] is not None for run in view["runs"])
    assert view["summary"]["GRU"]["forecast_mse"]["n"] == 2 and view["best_cell"] in ("RNN", "GRU")
    # Each run's forecast is its model's forecast from the test part's first position.
    first = view["runs"][0]
    origin = int((240 - 10) * 0.8) + 10
    again = forecast(stack, first["job_id"], origin=origin, horizon=12).json()
    assert again["mse"] == pytest.approx(first["forecast_mse"], rel=1e-9)
    png = stack.api.http.get(f"/v1/comparisons/{cid}/predictions.png")
    assert png.status_code == 200 and png.content.startswith(PNG)
    r = stack.api.http.post("/v1/comparisons", json={**body, "forecast": {"origin": 5}})
    assert r.status_code == 422 and "forecast.origin (5)" in r.text
    r = stack.api.http.post("/v1/comparisons", json={"cells": ["GRU"], "forecast": {"origin": 50}})
    assert r.status_code == 422 and "applies to runs on a dataset" in r.text


def test_a_deleted_job_leaves_its_datasets_users(stack, dataset):
    job = stack.api.http.post("/v1/jobs", json={"cell": "RNN", **SMALL, "epochs": 1,
                                                "data": {"dataset_id": dataset["id"]}}).json()
    stack.api.wait_job(job["id"])
    users = f"rnncast:dataset-users:{dataset['id']}"
    assert stack.r.sismember(users, job["id"])
    assert stack.api.http.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert not stack.r.sismember(users, job["id"])


def test_the_forecast_figure_takes_your_context_too(stack, model):
    values = wave()[200:230]
    url = f"/v1/models/{model['id']}/forecast.png"
    png = stack.api.http.get(url, params={"context": ",".join(map(str, values)), "horizon": 12})
    assert png.status_code == 200 and png.content.startswith(PNG)
    for params, says in [({"context": "1,2,x"}, "context"), ({"context": "1,2,3"}, "at least"),
                         ({"context": "1,nan"}, "context"), ({"context": "1e999,2"}, "finite"),
                         ({"context": "1,,2-3"}, "comma-separated numbers"),
                         ({"context": "1,2", "origin": 20}, "at most one")]:
        r = stack.api.http.get(url, params=params)
        assert r.status_code == 422 and says in r.text, (params, r.text)


def test_a_dataset_plots_whatever_its_name_and_finite_values(stack):
    """A name is drawn as written (`$...$` is not TeX to parse) and values near float64's end are drawn scaled:
    both failed the figure (503) before."""
    body = {"name": "$$ revenue in $ and $\\frac$", "values": [1e308, -1e308, 1e308, 0.0] * 8}
    dataset = stack.api.http.post("/v1/datasets", json=body).json()
    plot = stack.api.http.get(f"/v1/datasets/{dataset['id']}/plot.png")
    assert plot.status_code == 200 and plot.content.startswith(PNG), plot.text[:200]
