"""recipe auto on two real series (statsmodels' CO2 monthly means and yearly sunspots) through the real stack.

Each series is uploaded, one `recipe: auto` job is trained on it (EPOCHS per candidate, seed 0), and the refit
model is backtested on the series' test part (which no candidate read): its MASE beside seasonal naive's and
seasonal naive with drift's, the search's candidates with their inner-backtest scores, and the wall time.
Usage: .venv/bin/python bench/auto_search.py [EPOCHS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import stack


def load() -> dict[str, tuple[list[str], list[float], int]]:
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate().resample("MS").mean().interpolate()
    sun = sm.datasets.sunspots.load_pandas().data
    return {"co2_monthly": ([t.strftime("%Y-%m-%d") for t in co2.index], co2.tolist(), 12),
            "sunspots_yearly": ([f"{int(y)}-01-01" for y in sun["YEAR"]], sun["SUNACTIVITY"].tolist(), 11)}


def wait(http: Any, job_id: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(2)


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    worst = 0.0
    with stack(concurrency=2) as st:
        http = st.api.http
        for name, (dates, values, horizon) in load().items():
            csv = "date,value\n" + "".join(f"{d},{v!r}\n" for d, v in zip(dates, values, strict=True))
            ds = http.post("/v1/datasets", content=csv, headers={"Content-Type": "text/csv"},
                           params={"column": "value"})
            ds.raise_for_status()
            began = time.monotonic()
            job = http.post("/v1/jobs", json={"cell": "GRU", "recipe": "auto", "epochs": epochs, "seed": 0,
                                               "data": {"dataset_id": ds.json()["id"]}}).json()
            done = wait(http, job["id"])
            wall = time.monotonic() - began
            search = http.get(f"/v1/searches/{job['search_id']}").json()
            print(f"\n{name}: {len(values)} values, season {search['season']}, candidates read "
                  f"{search['inner_length']}, {done['status']} in {wall:.0f} s")
            for c in sorted(search["candidates"], key=lambda c: (c["score"] is None, c["score"] or 0)):
                print(f"  score {c['score']:.3f} best_epoch {c['best_epoch']} {c['options']}"
                      if c["score"] is not None else f"  {c['status']} {c['options']}")
            if done["status"] != "succeeded":
                continue
            bt = http.post(f"/v1/models/{done['model_id']}/backtest", json={"origins": 24, "horizon": horizon}).json()
            mase = bt["model"]["mase"]
            worst = max(worst, mase / bt["seasonal_naive"]["mase"])
            print(f"  {name}_test_start={bt['test_start']} {name}_mase={mase:.3f} "
                  f"seasonal_naive={bt['seasonal_naive']['mase']:.3f} drift={bt['seasonal_naive_drift']['mase']:.3f} "
                  f"wall_s={wall:.0f}")
    print(f"\nworst_mase_vs_seasonal_naive={worst:.3f}")


if __name__ == "__main__":
    main()
