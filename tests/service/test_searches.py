"""Searches (automatic selection by backtest) through the real API, Redis and workers."""

from __future__ import annotations

import pytest

from rnncast.common.search import lag, outer_split
from rnncast.common.series import split_point
from tests.support import wait_until

LENGTH, PERIOD, FRACTION = 200, 12, 0.8


@pytest.fixture(scope="module")
def dataset_id(stack):
    spec = {"kind": "sine", "points": LENGTH, "period": PERIOD, "noise_std": 0.05, "seed": 3}
    r = stack.api.http.post("/v1/datasets", json={"name": "monthly-ish", "generator": spec})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_search(stack, search_id, timeout=240):
    def done():
        view = stack.api.http.get(f"/v1/searches/{search_id}").json()
        return view if view["status"] != "running" else None

    return wait_until(done, timeout=timeout)


@pytest.fixture(scope="module")
def finished(stack, dataset_id):
    body = {"data": {"dataset_id": dataset_id, "train_fraction": FRACTION}, "epochs": 3, "max_candidates": 3,
            "backtest": {"origins": 5, "horizon": 6}, "name": "auto"}
    r = stack.api.http.post("/v1/searches", json=body)
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["status"] == "running" and created["phase"] == "candidates" and len(created["candidates"]) == 3
    assert r.headers["Location"] == f"/v1/searches/{created['id']}"
    return wait_search(stack, created["id"])


def test_search_scores_candidates_on_the_inner_split_and_refits_the_best(stack, finished):
    assert finished["status"] == "succeeded" and finished["phase"] == "done", finished
    assert finished["season"] == PERIOD and finished["name"] == "auto"
    rows = finished["candidates"]
    assert all(c["status"] == "succeeded" and c["score"] is not None and c["score_kind"] == "mase" for c in rows), rows
    assert {c["options"]["sequence_length"] for c in rows} <= {PERIOD, 2 * PERIOD, 3 * PERIOD}
    best = min(rows, key=lambda c: c["score"])
    assert finished["best_job_id"] == best["job_id"]
    # The refit: the winner's configuration on the whole series, for the epochs its early stopping kept.
    [model_id] = finished["model_ids"]
    model = stack.api.http.get(f"/v1/models/{model_id}").json()
    params = model["params"]
    assert {k: params[k] for k in best["options"]} == best["options"]
    assert params["data"]["length"] == LENGTH and params["data"]["train_fraction"] == FRACTION
    assert params["epochs"] == best["best_epoch"] and params["early_stopping"] is None
    refit = stack.api.http.get(f"/v1/comparisons/{finished['refit_comparison_id']}").json()
    assert refit["status"] == "succeeded" and [r["job_id"] for r in refit["runs"]] == [model_id]
    fc = stack.api.http.post(f"/v1/models/{model_id}/forecast", json={"horizon": 5})
    assert fc.status_code == 200 and len(fc.json()["y"]) == 5, fc.text


def test_candidates_never_read_the_test_part(stack, finished):
    inner = finished["inner_length"]
    # Whichever configuration wins (window, head, differencing lag), the refit's test part starts at or after
    # every value a candidate read.
    assert all(inner <= outer_split(LENGTH, c["options"], FRACTION) for c in finished["candidates"])
    [model_id] = finished["model_ids"]
    refit = stack.api.http.post(f"/v1/models/{model_id}/backtest", json={"origins": 3, "horizon": 3}).json()
    assert refit["test_start"] >= inner
    for c in finished["candidates"]:
        assert c["train_values"] == inner
        job = stack.api.http.get(f"/v1/jobs/{c['job_id']}").json()
        assert job["params"]["data"]["length"] == inner
        # The candidate's own model holds (and backtests over) only those values.
        r = stack.api.http.post(f"/v1/models/{c['job_id']}/backtest", json={"origins": 3, "horizon": 3})
        assert r.status_code == 200, r.text
        assert max(r.json()["origin_positions"]) + 3 <= inner


def test_cancel_stops_every_candidate(stack, dataset_id):
    body = {"data": {"dataset_id": dataset_id}, "epochs": 100_000, "patience": 100_000, "max_candidates": 2,
            "backtest": {"horizon": 4}}
    created = stack.api.http.post("/v1/searches", json=body).json()
    wait_until(lambda: any(c["epoch"] >= 1 for c in
                           stack.api.http.get(f"/v1/searches/{created['id']}").json()["candidates"]), timeout=60)
    r = stack.api.http.post(f"/v1/searches/{created['id']}/cancel")
    assert r.status_code == 202, r.text
    done = wait_search(stack, created["id"], timeout=60)
    assert done["status"] == "cancelled" and done["best_job_id"] is None and done["model_ids"] == []
    assert all(c["status"] == "cancelled" for c in done["candidates"])
    # The refit's jobs, waiting for the choice, are cancelled with the candidates.
    refit = stack.api.http.get(f"/v1/comparisons/{done['refit_comparison_id']}").json()
    assert refit["status"] == "cancelled" and all(r["status"] == "cancelled" for r in refit["runs"])
    assert stack.api.http.post(f"/v1/searches/{created['id']}/cancel").status_code == 409
    assert stack.api.http.delete(f"/v1/searches/{created['id']}").status_code == 204
    assert stack.api.http.get(f"/v1/searches/{created['id']}").status_code == 404


def test_a_recipe_auto_job_trains_what_its_search_chose(stack, dataset_id):
    r = stack.api.http.post("/v1/jobs", json={"cell": "LSTM", "recipe": "auto", "epochs": 3, "seed": 1,
                                              "data": {"dataset_id": dataset_id}})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["search_id"]
    search = stack.api.http.get(f"/v1/searches/{job['search_id']}").json()
    assert search["refit_job_ids"] == [job["id"]] and len(search["candidates"]) == 12
    done = stack.api.wait_job(job["id"], timeout=300)
    assert done["status"] == "succeeded" and done["model_id"] == job["id"], done
    search = wait_search(stack, job["search_id"])
    best = next(c for c in search["candidates"] if c["job_id"] == search["best_job_id"])
    assert search["model_ids"] == [job["id"]] and done["params"]["recipe"] == "auto"
    assert {k: done["params"][k] for k in best["options"]} == best["options"]
    assert done["params"]["data"]["length"] == LENGTH and done["params"]["seed"] == 1
    # The sine has no series to search on.
    r = stack.api.http.post("/v1/jobs", json={"cell": "GRU", "recipe": "auto"})
    assert r.status_code == 422 and "recipe auto searches by backtest on a dataset" in r.text


def test_an_ensemble_refit_on_all_the_values(stack, dataset_id):
    body = {"data": {"dataset_id": dataset_id}, "epochs": 2, "max_candidates": 2, "refit": "all",
            "ensemble_seeds": 2, "seed": 5, "backtest": {"horizon": 4}}
    created = stack.api.http.post("/v1/searches", json=body).json()
    done = wait_search(stack, created["id"])
    assert done["status"] == "succeeded" and len(done["model_ids"]) == 2, done
    refit = stack.api.http.get(f"/v1/comparisons/{done['refit_comparison_id']}").json()
    assert sorted(r["seed"] for r in refit["runs"]) == [5, 6]
    model = stack.api.http.get(f"/v1/models/{done['model_ids'][0]}").json()
    data, steps = model["params"]["data"], model["params"]["output_steps"]
    # All the values train but the last window's.
    assert split_point(LENGTH, model["params"]["sequence_length"], data["train_fraction"], steps,
                       lag(model["params"])) == LENGTH - steps
    ensemble = stack.api.http.post(f"/v1/comparisons/{refit['id']}/forecast", json={"horizon": 4})
    assert ensemble.status_code == 200 and ensemble.json()["cells"][refit["cells"][0]]["n"] == 2, ensemble.text


def test_cancelling_a_recipe_auto_job_cancels_its_search(stack, dataset_id):
    job = stack.api.http.post("/v1/jobs", json={"cell": "GRU", "recipe": "auto", "epochs": 100_000,
                                                "data": {"dataset_id": dataset_id}}).json()
    assert stack.api.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    done = wait_search(stack, job["search_id"], timeout=60)
    assert done["status"] == "cancelled" and all(c["status"] == "cancelled" for c in done["candidates"])
    assert stack.api.wait_job(job["id"])["status"] == "cancelled"


def test_candidate_count_is_bounded(stack, dataset_id):
    body = {"data": {"dataset_id": dataset_id}, "epochs": 1, "max_candidates": 2, "patience": 1}
    created = stack.api.http.post("/v1/searches", json=body).json()
    assert len(created["candidates"]) == 2
    # The default is the server's limit; the grid (common.search.SPACE) is sampled to it.
    r = stack.api.http.post("/v1/searches", json={**body, "max_candidates": 13})
    assert r.status_code == 422 and "RNNCAST_MAX_SEARCH_CANDIDATES (12)" in r.json()["detail"]
    wait_search(stack, created["id"])


@pytest.mark.parametrize(("body", "message"), [
    ({}, "data"),
    ({"data": {"period": 20}}, "dataset_id"),
    ({"data": {"dataset_id": "0" * 32}}, "not found"),
    ({"data": {"dataset_id": "0" * 32}, "refit": "some"}, "refit"),
    ({"data": {"dataset_id": "0" * 32}, "ensemble_seeds": 0}, "ensemble_seeds"),
])
def test_bad_searches_are_refused(stack, body, message):
    r = stack.api.http.post("/v1/searches", json=body)
    assert r.status_code == 422 and message in r.text, r.text
