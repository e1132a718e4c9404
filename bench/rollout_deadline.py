"""What a rollout's deadline costs and how soon it acts (core.wavefront.StopPoll).

Prints, for a 1-unit RNN (the cheapest steps: the most questions) and the defaults' LSTM at a full
batch: `overhead_pct` (a rollout asking a `should_stop` that never fires, against one without) and
`late_ms` (how long after its deadline a rollout that would take minutes raised RolloutStopped).
Usage: python bench/rollout_deadline.py
"""

from __future__ import annotations

import time

import torch

from rnncast.common.options import ModelOptions
from rnncast.core.forecast import RolloutStopped, rollout
from rnncast.core.models import Forecaster


def best_of(n: int, run) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def measure(name: str, opts: ModelOptions, rows: int, seq: int, horizon: int) -> None:
    torch.manual_seed(0)
    model = Forecaster(opts).eval()
    windows = torch.randn(rows, seq)
    rollout(model, windows[:, :8], 2)
    plain = best_of(5, lambda: rollout(model, windows, horizon))
    asked = best_of(5, lambda: rollout(model, windows, horizon, should_stop=lambda: time.monotonic() < 0))
    deadline = time.monotonic() + 0.5
    late = float("nan")
    try:
        # a long horizon over few rows: minutes of work in bounded memory
        rollout(model, windows[:4], 200_000, should_stop=lambda: time.monotonic() >= deadline)
    except RolloutStopped:
        late = time.monotonic() - deadline
    print(f"model={name} rollout_s={plain:.3f} overhead_pct={100 * (asked / plain - 1):.1f} late_ms={1000 * late:.1f}")


def main() -> None:
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    measure("rnn1", ModelOptions(cell="RNN", hidden_size=1), 1, 2000, 5000)
    measure("defaults", ModelOptions(), 256, 80, 100)


if __name__ == "__main__":
    main()
