"""The forecast work bound counts what a rollout really computes, long windows and long horizons alike."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnncast.common.defaults import forecast_work
from rnncast.common.options import ModelOptions
from rnncast.core.forecast import rollout
from rnncast.core.models import Forecaster


def measured_flops(cell: str, hidden: int, layers: int, rows: int, seq: int, horizon: int) -> int:
    torch.manual_seed(0)
    model = Forecaster(ModelOptions(cell=cell, hidden_size=hidden, num_layers=layers)).eval()
    windows = torch.randn(rows, seq)
    with torch.no_grad():
        rollout(model, windows, horizon)  # once first: per-shape checks (core.wavefront) are not the rollout's
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        rollout(model, windows, horizon)
    return int(counter.get_total_flops())


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_estimate_tracks_measured_work_for_long_windows_and_long_horizons(cell):
    shapes = [(200, 4), (4, 200), (80, 100), (300, 60)]  # (sequence_length, horizon)
    ratios = []
    for seq, horizon in shapes:
        flops = measured_flops(cell, 24, 2, 3, seq, horizon)
        ratios.append(flops / forecast_work(3, seq, horizon, 24, 2, cell))
    # The measured matmul flops per unit of estimate stay within a small band (2 flops a multiply-add,
    # input-to-hidden and hidden-to-hidden; the wavefront's padding rows weigh more when few windows
    # are live) whatever the shape. The old estimate, rows x (sequence_length + horizon) x ...,
    # spread 13x over these shapes: long windows with long horizons were undercounted ~min(T, h) times.
    assert max(ratios) / min(ratios) < 2.0, ratios
    assert all(2.0 <= r <= 16.0 for r in ratios), ratios


def test_evaluation_passes_stay_within_their_byte_budget():
    from rnncast.common.defaults import EVAL_BATCH, EVAL_PASS_BYTES, eval_rows

    assert eval_rows(80, 20) == EVAL_BATCH  # the tutorial's evaluation is unchanged: one pass of 8,192 rows
    for seq, hidden in [(1000, 1024), (100_000, 1024), (5000, 64)]:
        rows = eval_rows(seq, hidden)
        assert rows >= 1 and (rows == 1 or rows * seq * hidden * 4 * 3 <= EVAL_PASS_BYTES), (seq, hidden, rows)
