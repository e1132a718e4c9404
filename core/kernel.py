"""The fused rollout kernel: a forecaster's sliding-window rollout compiled by numba, windows in vector lanes or by row.

Why numba. A 100-step forecast of the tutorial LSTM (hidden 20, window 80) is
8,000 cell steps of ~1,600 multiply-adds each; torch spends ~10 ms of CPU on it
at batch 1 because every step is ~20 small dispatched ops (core.wavefront), and
the arithmetic itself is ~1 ms. Measured on this project's 2-core CI machine
(CPU time, one thread; bench/rollout_kernel.py): torch.jit.script keeps the
per-op dispatch (no gain worth its complexity), torch.compile needs a C++
toolchain at run time and minutes of compiling per shape, and a numpy loop is
dispatch-bound like torch. numba (a well-kept LLVM JIT on PyPI) compiles one
loop nest for every cell, layer count and hidden size: no dispatch, the
loops vectorised by LLVM. The worker depends on it; where it cannot be imported,
`available()` is False and core.forecast runs the pure torch path
(core.wavefront) instead. The API process imports neither (tests/test_layers.py).

This module runs a rollout's windows in as many vector lanes as
common.rollout_work.kernel_plan chooses (or by row, where it chooses none) and hands the loops the
model's weights; the loops, and the arithmetic they share, are core.kernel_loops.

Deadlines: the kernel runs a chunk of steps of its lanes, or of windows by row, at a time (about CHUNK_WORK of
common.rollout_work's work) and asks the rollout's StopPoll between chunks.
"""

from __future__ import annotations

import weakref

import numpy as np
from torch import nn

from rnncast.common.defaults import GATES, TORCH_MODES
from rnncast.common.rollout_work import KERNEL_VECTOR, kernel_plan, kernel_serves
from rnncast.core.kernel_loops import numba, windows_by_lane, windows_by_row
from rnncast.core.wavefront import StopCheck, StopPoll

CODES = {"RNN": 0, "LSTM": 1, "GRU": 2}  # each cell's code, which the loops branch on (core.kernel_loops)
NAMES = {code: name for name, code in CODES.items()}
UNBOUNDED = 1 << 62  # steps or windows: all of them
CHUNK_WORK = 6.5e7  # work between two questions to the StopPoll: ~0.5 ms (bench/kernel_costs.py: ~1.3e11 a second)


def available() -> bool:
    """Whether the compiled kernel can run here (numba imports)."""
    return numba is not None


def supports(model: nn.Module) -> bool:
    """Whether the kernel runs `model`: numba is here, and it is a core Forecaster (any head) in float32 on the
    CPU whose layers' weights fit the cache (common.rollout_work.kernel_serves: a row at a time re-reads them every
    step, and past 1 MiB torch's batched matmuls are faster). Decided by the model alone, never by the batch."""
    rnn, head = getattr(model, "rnn", None), getattr(model, "head", None)
    if numba is None or not (
        isinstance(rnn, nn.RNNBase) and isinstance(head, nn.Linear) and rnn.mode in TORCH_MODES and rnn.bias
        and not rnn.bidirectional and getattr(rnn, "proj_size", 0) == 0 and rnn.batch_first and rnn.input_size == 1
    ):
        return False
    if not kernel_serves(rnn.hidden_size, TORCH_MODES[rnn.mode]):
        return False  # its weights leave the cache: torch's batched matmuls, alone or batched alike
    param = next(model.parameters())
    return bool(param.dtype.is_floating_point and param.itemsize == 4 and param.device.type == "cpu")


Weights = tuple[int, tuple[np.ndarray, ...]]
# Per model: the parameter tensors read, their version counters then, and what was made of them. The tensors
# do not refer to their module, so an entry goes with its model.
_WEIGHTS = weakref.WeakKeyDictionary[nn.Module, tuple[tuple[nn.Parameter, ...], tuple[int, ...], Weights]]()


def _weights(model: nn.Module) -> Weights:
    """(cell, (wx0, wx, whh, bias, bhh, whead, bhead)) as the kernel reads them: made once per model and kept
    while its parameters are the same tensors, unchanged (a training step or a load writes them in place, which
    moves each written tensor's version counter on; a parameter replaced is another tensor). A write through a
    parameter's `.data` moves no counter: nothing in rnncast writes weights so."""
    params = tuple(model.parameters())
    versions = tuple(p._version for p in params)
    kept = _WEIGHTS.get(model)
    if (kept is not None and kept[1] == versions and len(kept[0]) == len(params)
            and all(a is b for a, b in zip(kept[0], params, strict=True))):
        return kept[2]
    made = _made_weights(model)
    _WEIGHTS[model] = (params, versions, made)
    return made


def _made_weights(model: nn.Module) -> Weights:
    rnn, head = model.rnn, model.head
    assert isinstance(rnn, nn.RNNBase) and isinstance(head, nn.Linear)
    name, layers = TORCH_MODES[rnn.mode], rnn.num_layers
    cell = CODES[name]

    hd = rnn.hidden_size
    scale = np.ones(GATES[name] * hd, np.float32)  # the pre-activations that go through tanh, doubled (exact)
    scale[{0: slice(None), 1: slice(2 * hd, 3 * hd), 2: slice(2 * hd, None)}[cell]] = 2

    def arr(weights: str) -> np.ndarray:
        value = getattr(rnn, weights).detach().numpy()
        return value * (scale[:, None] if value.ndim == 2 else scale)

    whh = np.stack([arr(f"weight_hh_l{k}").T for k in range(layers)])  # (L, H, G)
    wx = np.stack([arr(f"weight_ih_l{k}").T for k in range(1, layers)]) if layers > 1 else np.zeros((1, 1, 1))
    b_ih = np.stack([arr(f"bias_ih_l{k}") for k in range(layers)])
    b_hh = np.stack([arr(f"bias_hh_l{k}") for k in range(layers)])
    bias = b_ih if cell == 2 else b_ih + b_hh
    arrays = (arr("weight_ih_l0")[:, 0], wx, whh, bias, b_hh, head.weight.detach().numpy(), head.bias.detach().numpy())
    return cell, tuple(np.ascontiguousarray(a, dtype=np.float32) for a in arrays)


def forecast(model: nn.Module, windows: np.ndarray, horizon: int, should_stop: StopCheck | None = None) -> np.ndarray:
    """Continue B windows as the sliding loop would: (B, T) -> (B, horizon) float32, each row the same to the
    bit alone or in any batch. `model` must be `supports`ed; `should_stop` as core.forecast.rollout's."""
    b, t = windows.shape
    cell, arrays = _weights(model)
    steps = arrays[-1].shape[0]  # values per window: the head's output_steps
    count = -(-horizon // steps)  # windows
    buf = np.empty((b, t + count * steps), np.float32)
    buf[:, :t] = windows
    layers, hd, _ = arrays[2].shape  # whh
    poll = StopPoll(should_stop) if should_stop is not None else None
    plan = kernel_plan(b, t, horizon, hd, layers, NAMES[cell], steps)
    chunk = UNBOUNDED if poll is None else max(1, int(CHUNK_WORK // plan.step_work))  # steps, or windows by row
    if plan.width:
        lanes = Lanes(b, plan.width, layers, hd, steps)
        while True:
            if poll is not None:
                poll.step()
            if lanes.run(buf, t, count, cell, arrays, chunk):
                break
        return buf[:, t : t + horizon]
    for w0 in range(0, count, chunk):
        if poll is not None:
            poll.step()
        windows_by_row(buf, t, w0, min(count, w0 + chunk), cell, *arrays)
    return buf[:, t : t + horizon]


class Lanes:
    """windows_by_lane's state for one rollout of `rows` rows in `width` lanes, from its first step."""

    def __init__(self, rows: int, width: int, layers: int, hidden: int, steps: int) -> None:
        self.state = np.zeros((2, layers, hidden, width), np.float32)  # h and c
        self.lane = np.zeros((3, width), np.int64)  # each lane's row, window and step
        self.lane[2] = -1  # idle
        self.rows_at = np.zeros((2, rows), np.int64)  # each row's next window, and the step its last started at
        self.rows_at[1] = -steps  # the first may start at step 0
        self.clock = np.zeros(2, np.int64)  # the lanes' step, the row a free lane looks at first

    def run(self, buf: np.ndarray, t: int, count: int, cell: int, arrays: tuple[np.ndarray, ...],
            budget: int = UNBOUNDED) -> bool:
        """Up to `budget` steps of the rollout (by default, to its end); True once it is done."""
        return bool(windows_by_lane(buf, t, count, self.state, self.lane, self.rows_at, self.clock, budget, cell,
                                    *arrays))


def warm() -> None:
    """Compile the kernel now (a few seconds, or its cached build read back), not in a forecast's time."""
    if numba is None:
        return
    one = np.zeros((1, 1, 1), np.float32)
    weights = (np.zeros(1, np.float32), one, one, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32),
               np.zeros((1, 1), np.float32), np.zeros(1, np.float32))
    windows_by_row(np.zeros((1, 2), np.float32), 1, 0, 1, 0, *weights)
    Lanes(1, KERNEL_VECTOR, 1, 1, 1).run(np.zeros((1, 2), np.float32), 1, 1, 0, weights)
