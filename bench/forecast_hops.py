"""Redis commands and round trips per forecast at one client, as Redis counts them (tests/redis_counts.py).

Trains a tiny GRU through a private stack (`rnncast up`'s shape: the API, a
threads-pool predict worker, Redis), then sends --n forecasts one after the
other, by whole id, and reads Redis's own counters before and after (an idle
spell as long as the forecasts took is counted and taken off: heartbeats and
idle pops). `commands` counts what Redis executed, a script's own commands
included; `round_trips` the requests Redis read from its clients.
Last line: commands_per_forecast=<x> round_trips_per_forecast=<y>
Usage: python bench/forecast_hops.py [--n 200]
"""

from __future__ import annotations

import argparse

from _stack import stack

from tests.redis_counts import per_unit
from tests.support import TINY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    with stack(predict_threads=4) as s:
        http = s.api.http
        job = http.post("/v1/jobs", json={"cell": "GRU", **TINY}).json()
        model_id = s.api.wait_job(job["id"], timeout=600)["model_id"]
        url = f"/v1/models/{model_id}/forecast"

        def forecast() -> None:
            response = http.post(url, json={"start": 50.0, "horizon": 10})
            assert response.status_code == 200, response.text

        forecast()  # the model into the worker's cache
        counts = per_unit(s.redis.client(), forecast, args.n)
    print(f"commands_per_forecast={counts.commands:.2f} round_trips_per_forecast={counts.round_trips:.2f}")


if __name__ == "__main__":
    main()
