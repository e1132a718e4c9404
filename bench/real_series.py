"""rnncast on real series, through the real stack, against seasonal naive (with drift), statsforecast and Darts.

Each series (bench/_real_series_data.py: CO2 monthly and weekly, air passengers, sunspots, the Nile) is
uploaded as a CSV with its dates; each rnncast configuration trains one job per seed on it (the train part
only: the split is rnncast's), then forecasts from every rolling origin of the test part (`origin`: the
values before it are the window), asking for 80% and 95% intervals where the server offers them. The
peers see the same train part and forecast from the same origins without refitting: statsforecast's
AutoETS and AutoARIMA, Darts' RNNModel (LSTM, month/year covariates) and BlockRNNModel (GRU, `horizon`
steps out at once) with the same hidden size and epochs. Every method is scored here the same way.

Per series: MAPE, sMAPE, MASE (first origin), backtest MASE (every origin), coverage, wall seconds.
Last line:
  worst_mase=<rnncast's worst backtest MASE> vs_darts_rnn=<worst series' rnncast best MAPE / Darts' best RNN
  MAPE> coverage_error_pp=<worst |coverage - level| in points>
rnncast's figure for the goals is `auto` where the server offers it, else its best configuration per series.

Needs the peers: pip install -e ".[peers-forecast]".
Usage: python bench/real_series.py [--seeds 0,1,2] [--epochs 200] [--series co2_monthly,...] [--no-darts] [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _real_series_data import (
    Series,
    coverage,
    darts_peer,
    load_series,
    metrics,
    seasonal_naive,
    statsforecast_peer,
)
from _stack import stack

LEVELS = (0.8, 0.95)
HIDDEN = 12

# rnncast's configurations: (name, job fields, the option names the server must know for it to run).
CONFIGS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("lstm_docs", {"cell": "LSTM", "batch_size": 32, "lr": 0.01}, ()),
    ("gru_docs", {"cell": "GRU", "batch_size": 32, "lr": 0.01}, ()),
    ("gru_diff_block", {"cell": "GRU", "batch_size": 32, "lr": 0.01, "difference": "seasonal",
                        "output_steps": "horizon", "loss_on": "all"}, ("difference", "output_steps", "loss_on")),
    ("lstm_calendar", {"cell": "LSTM", "batch_size": 32, "lr": 0.01, "difference": "first",
                       "covariates": "calendar"}, ("difference", "covariates")),
    ("auto", {"cell": "GRU", "recipe": "auto"}, ("recipe=auto",)),
]


def server_knows(http: httpx.Client) -> set[str]:
    """The job fields (and `recipe=<value>`s) this server's OpenAPI document offers."""
    doc = http.get("/openapi.json").json()
    known: set[str] = set()
    for name, schema in doc["components"]["schemas"].items():
        if name.startswith(("Job", "ForecastRequest")) and "properties" in schema:
            known |= set(schema["properties"])
            recipe = schema["properties"].get("recipe", {})
            for part in [recipe, *recipe.get("anyOf", []), *recipe.get("allOf", [])]:
                ref = part.get("$ref", "").rsplit("/", 1)[-1]
                for value in part.get("enum", []) + doc["components"]["schemas"].get(ref, {}).get("enum", []):
                    known.add(f"recipe={value}")
    return known


def body_for(s: Series, fields: dict[str, Any], dataset_id: str, seed: int, epochs: int) -> dict[str, Any]:
    body = {"hidden_size": HIDDEN, "sequence_length": s.sequence_length, "epochs": epochs, "seed": seed,
            "data": {"dataset_id": dataset_id}, **fields}
    if body.get("output_steps") == "horizon":
        body["output_steps"] = s.horizon
    if body.get("recipe") == "auto":
        body = {k: v for k, v in body.items() if k in ("cell", "recipe", "seed", "data", "epochs")}
    return body


def wait_jobs(http: httpx.Client, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = [http.get(f"/v1/jobs/{i}").json() for i in ids]
        if all(j["status"] in ("succeeded", "failed", "cancelled") for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs {ids} did not finish in {timeout:.0f} s")
        time.sleep(1.0)


def seconds_of(job: dict[str, Any], since_created: bool = False) -> float:
    from datetime import datetime

    def parse(t: str) -> float:
        return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()

    began = job.get("created_at") if since_created else job.get("started_at")
    return parse(job["finished_at"]) - parse(began) if began else math.nan


def rnncast_forecasts(http: httpx.Client, s: Series, model_id: str, intervals: bool
                      ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
    """The model's forecasts from every origin, with the intervals its calibration can give (a level above its
    `max_level` needs more calibration origins than its test part held)."""
    calibration = http.get(f"/v1/models/{model_id}").json().get("calibration") if intervals else None
    levels = [lv for lv in LEVELS if calibration and lv <= calibration["max_level"]]
    preds, lows, highs = [], {lv: [] for lv in LEVELS}, {lv: [] for lv in LEVELS}  # type: ignore[var-annotated]
    for k in s.positions:
        body: dict[str, Any] = {"origin": int(k), "horizon": s.horizon}
        if levels:
            body["intervals"] = levels
        answer = http.post(f"/v1/models/{model_id}/forecast", json=body)
        answer.raise_for_status()
        data = answer.json()
        preds.append(data["y"])
        for band in data.get("intervals") or []:
            lows[band["level"]].append(band["lower"])
            highs[band["level"]].append(band["upper"])
    bands = {lv: (np.asarray(lows[lv]), np.asarray(highs[lv])) for lv in LEVELS if lows[lv]}
    return np.asarray(preds), bands


def row(name: str, m: dict[str, float], cov: dict[float, float], seconds: float) -> str:
    covs = " ".join(f"{cov[lv]*100:5.1f}" if lv in cov else "    -" for lv in LEVELS)
    return (f"  {name:<24} {m['mape']:8.2f} {m['smape']:8.2f} {m['mase']:7.3f} {m['bt_mase']:8.3f}  {covs}"
            f" {seconds:8.1f}")


def mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}


def run_series(http: httpx.Client, s: Series, args: argparse.Namespace, known: set[str], tmp: Path
               ) -> dict[str, Any]:
    path = tmp / f"{s.name}.csv"
    path.write_text(s.csv())
    with path.open("rb") as fh:
        uploaded = http.post("/v1/datasets", files={"file": (path.name, fh, "text/csv")}, params={"column": "value"})
    uploaded.raise_for_status()
    dataset_id = uploaded.json()["id"]
    print(f"\n{s.name}: {len(s.values)} values, season {s.season}, horizon {s.horizon}, train part {s.first}, "
          f"{len(s.positions)} origins")
    print(f"  {'method':<24} {'MAPE%':>8} {'sMAPE%':>8} {'MASE':>7} {'bt_MASE':>8}  "
          + " ".join(f"cov{round(lv*100)}" for lv in LEVELS) + f" {'wall_s':>8}")
    result: dict[str, Any] = {"rnncast": {}, "darts": {}, "coverage": {}}
    for drift in (False, True):
        name = "seasonal_naive" + ("_drift" if drift else "")
        print(row(name, metrics(s, seasonal_naive(s, drift)), {}, 0.0))
    for which in ("AutoETS", "AutoARIMA"):
        try:
            peer = statsforecast_peer(s, which, LEVELS)
        except Exception as exc:  # a peer that cannot fit this series is reported, not fatal
            print(f"  {which:<24} failed: {exc!s:.80}")
            continue
        print(row(which, metrics(s, peer.preds), coverage(s, peer.bands), peer.seconds))
    usable = [(n, f) for n, f, needs in CONFIGS if all(k in known for k in needs)]
    ids: dict[str, list[str]] = {}
    for name, fields in usable:
        ids[name] = []
        for seed in args.seeds:
            answer = http.post("/v1/jobs", json=body_for(s, fields, dataset_id, seed, args.epochs))
            if answer.status_code != 202:
                print(f"  {name:<24} refused: {answer.status_code} {answer.text[:120]}")
                ids.pop(name)
                break
            ids[name].append(answer.json()["id"])
    intervals = "intervals" in known
    for name, job_ids in ids.items():
        jobs = wait_jobs(http, job_ids, args.timeout)
        runs, covs, walls = [], [], []
        for job in jobs:
            if job["status"] != "succeeded":
                print(f"  {name:<24} job {job['id'][:8]} {job['status']}: {str(job.get('error'))[:100]}")
                continue
            preds, bands = rnncast_forecasts(http, s, job["model_id"], intervals)
            runs.append(metrics(s, preds))
            covs.append(coverage(s, bands))
            walls.append(seconds_of(job, since_created=name == "auto"))  # auto: its search's candidates too
        if not runs:
            continue
        m = mean_metrics(runs)
        cov = {lv: statistics.fmean(c[lv] for c in covs) for lv in LEVELS if all(lv in c for c in covs)}
        result["rnncast"][name] = m
        result["coverage"][name] = cov
        print(row(f"rnncast {name}", m, cov, sum(walls)))
    if not args.no_darts:
        for which in ("RNNModel", "BlockRNNModel"):
            peers = [darts_peer(s, which, seed, args.epochs, HIDDEN) for seed in args.seeds]
            m = mean_metrics([metrics(s, p.preds) for p in peers])
            result["darts"][which] = m
            print(row(f"darts {which}", m, {}, sum(p.seconds for p in peers)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--series", default="")
    parser.add_argument("--no-darts", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--quick", action="store_true", help="one seed, 30 epochs, two series")
    args = parser.parse_args()
    args.seeds = [int(x) for x in args.seeds.split(",")]
    chosen = load_series()
    if args.quick:
        args.seeds, args.epochs = [0], 30
        chosen = [s for s in chosen if s.name in ("air_passengers", "nile_break")]
    if args.series:
        chosen = [s for s in chosen if s.name in args.series.split(",")]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, stack(concurrency=2) as st:
        known = server_knows(st.api.http)
        for s in chosen:
            results[s.name] = run_series(st.api.http, s, args, known, Path(tmp))
    worst_mase, ratios, cov_err = 0.0, [], []
    for r in results.values():
        if not r["rnncast"]:
            continue
        pick = "auto" if "auto" in r["rnncast"] else min(r["rnncast"], key=lambda n: r["rnncast"][n]["bt_mase"])
        worst_mase = max(worst_mase, r["rnncast"][pick]["bt_mase"])
        if r["darts"]:
            best_darts = min(m["mape"] for m in r["darts"].values())
            ratios.append(min(m["mape"] for m in r["rnncast"].values()) / best_darts)
        cov_err += [abs(c - lv) * 100 for lv, c in r["coverage"].get(pick, {}).items()]
    vs = f"{max(ratios):.2f}" if ratios else "nan"
    ce = f"{max(cov_err):.1f}" if cov_err else "nan"
    print(f"\nworst_mase={worst_mase:.3f} vs_darts_rnn={vs} coverage_error_pp={ce}")


if __name__ == "__main__":
    main()
