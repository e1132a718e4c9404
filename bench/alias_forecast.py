"""What an alias costs a forecast: the same tiny model's forecast asked by its id and through `@alias`, in
alternating rounds on one private stack (Redis, one worker, the API), then through the alias while another
thread moves it between two models as fast as it can. Last line:
id_forecast_ms=.. alias_forecast_ms=.. alias_over_id_ratio=.. moves_during=.. non_200_during=.. forecasts=..
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import httpx
from _stack import stack

from tests.support import TINY


def train(http: httpx.Client, seed: int) -> str:
    job = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "seed": seed}).json()
    while (done := http.get(f"/v1/jobs/{job['id']}").json())["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.2)
    assert done["status"] == "succeeded", done
    return str(done["model_id"])


def timed(http: httpx.Client, model: str, body: dict[str, float]) -> tuple[float, int]:
    began = time.perf_counter()
    status = http.post(f"/v1/models/{model}/forecast", json=body).status_code
    return time.perf_counter() - began, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    body = {"start": 60.0, "horizon": 10}
    with stack() as s, httpx.Client(base_url=s.api.url, timeout=30) as http:
        first, second = train(http, 0), train(http, 1)
        assert http.post("/v1/aliases/bench", json={"model_id": first}).status_code == 200
        by_id, by_alias = [], []
        for _ in range(args.rounds):  # alternating: both see the same machine at the same moments
            by_id.append(timed(http, first, body)[0])
            by_alias.append(timed(http, "@bench", body)[0])
        stop, moves = threading.Event(), [0]

        def mover() -> None:
            with httpx.Client(base_url=s.api.url, timeout=30) as other:
                while not stop.is_set():
                    other.post("/v1/aliases/bench", json={"model_id": (second, first)[moves[0] % 2]})
                    moves[0] += 1

        thread = threading.Thread(target=mover)
        thread.start()
        statuses = [timed(http, "@bench", body)[1] for _ in range(args.rounds)]
        stop.set()
        thread.join()
    id_ms, alias_ms = statistics.median(by_id) * 1000, statistics.median(by_alias) * 1000
    print(f"id_forecast_ms={id_ms:.2f} alias_forecast_ms={alias_ms:.2f} alias_over_id_ratio={alias_ms / id_ms:.3f} "
          f"moves_during={moves[0]} non_200_during={sum(st != 200 for st in statuses)} forecasts={args.rounds}")


if __name__ == "__main__":
    main()
