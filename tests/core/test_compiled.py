"""core.compiled.warm makes every numba function ready with the argument types training and forecasts pass, so a
job's first GRU batch and a worker's first forecast compile nothing (and a worker warms before its pool forks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.common.rollout_work import kernel_plan
from rnncast.core import compiled, fastgru, kernel, kernel_loops
from rnncast.core.data import make_split
from rnncast.core.epoch import train_epoch
from rnncast.core.forecast import rollout_numpy
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam
from tests.support import TINY

pytestmark = pytest.mark.skipif(not kernel.available(), reason="numba is not installed")
FUNCTIONS = (kernel_loops.windows_by_row, kernel_loops.windows_by_lane, fastgru._forward, fastgru._backward)


def test_warm_compiles_every_signature_that_training_and_forecasts_then_use():
    compiled.warm()
    before = [set(f.signatures) for f in FUNCTIONS]
    assert all(before)
    config = TrainOptions(**{k: v for k, v in TINY.items() if k in {"epochs", "sequence_length", "batch_size"}})
    split = make_split(SineData(), config.sequence_length)
    for cell in ("RNN", "LSTM", "GRU"):
        for layers in (1, 2):
            torch.manual_seed(0)
            model = Forecaster(ModelOptions(cell=cell, hidden_size=6, num_layers=layers))
            train_epoch(model, Adam(model.parameters(), lr=config.lr), split, config)
            model.eval()
            shapes = ((1, 1), (3, 5), (33, 5))  # (rows, horizon): by row, then in 16 and in 64 lanes
            widths = [kernel_plan(rows, config.sequence_length, horizon, 6, layers, cell).width
                      for rows, horizon in shapes]
            assert widths[0] == 0 and all(widths[1:]), widths
            for rows, horizon in shapes:
                rollout_numpy(model, np.zeros((rows, config.sequence_length), np.float32), horizon)
    assert [set(f.signatures) for f in FUNCTIONS] == before


def test_a_worker_makes_the_compiled_code_ready_before_it_forks_its_pool(stack):
    log = stack.worker.log()
    assert "compiled code ready before the pool started" in log, log
