"""The fused rollout kernel: a forecaster's sliding-window rollout compiled by numba, rows in blocks or one at a time.

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

Two kernels, one arithmetic. `_windows` runs rows one at a time, its vector
loops over a row's gates; `_block` runs a block of rows held transposed, one row
per vector lane, its loops over the rows innermost (each weight loaded once for
the block: half the CPU per row at 64 rows). Both are compiled without
reassociation (FMA contraction only) and write each value's arithmetic as the
same expression, so every sum is taken in one order: a window's forecast has the
same bits alone, as a lane of any block (padding lanes change nothing), or in
the rows after the blocks (`_blocks` decides which rows go where; tests per
cell, layers, head and batch size).

Arithmetic. Each window runs the network from a zero state over its T values
as torch's cells define them; the windows run one after another (window w
reads the predictions of windows < w, as the sliding loop does); a multi-step
head's K values come from each window, the next window starting K values on. sigmoid is
1 / (1 + e^-x) and tanh(x) = 2 sigmoid(2x) - 1 (the weights of the pre-activations
that go through tanh are doubled once, exactly, as in core.wavefront), with e^x computed in float32
by range reduction (x = n ln2 + r) and a degree-7 polynomial (~1 ulp): libm's
scalar exp would not vectorise and cost 3x the rest. Results agree with torch's
forward to float32 rounding (tests/core/test_rollout_kernel.py, per cell and layers).

Deadlines: the kernel runs a chunk of windows at a time (about CHUNK_MACS of
arithmetic) and asks the rollout's StopPoll between chunks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from torch import nn

from rnncast.common.defaults import kernel_serves
from rnncast.core.wavefront import StopCheck, StopPoll

try:  # numba is the worker's dependency; without it core.forecast takes the pure torch path
    import numba
except ImportError:  # pragma: no cover - exercised where numba is not installed
    numba = None  # type: ignore[assignment]

CELLS = {"RNN_TANH": 0, "LSTM": 1, "GRU": 2}
GATES = (1, 4, 3)
# Rows run in blocks (one row per vector lane) of MIN_BLOCK to LANES rows, a multiple of VECTOR (a 512-bit
# vector's float32s: no row in a scalar tail; a block of 64 keeps its state in L1). Narrower blocks cost more per
# row than rows alone (bench/rollout_kernel.py prints each width's cost: a block of 32 takes the CPU of ~23 rows
# alone). Rows that fill PAD_SHARE of a vector (or of MIN_BLOCK) run padded with zero rows to it; fewer, left
# over, run one at a time in the row kernel.
LANES, VECTOR, MIN_BLOCK, PAD_SHARE = 64, 16, 32, 0.75
CHUNK_MACS = 4_000_000  # multiply-adds between two questions to the StopPoll, about (~0.5 ms here)

_F = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_P2, _P3, _P4, _P5, _P6, _P7 = (_F(1.0 / math.factorial(k)) for k in range(2, 8))
_ONE, _TWO, _LIM, _ROUND = _F(1.0), _F(2.0), _F(87.0), _F(128.5)
_F128, _I1, _I23 = _F(128.0), np.int32(1), np.int32(23)


def available() -> bool:
    """Whether the compiled kernel can run here (numba imports)."""
    return numba is not None


def _sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x) in float32; e^y = 2^n e^r with |r| <= ln2/2, e^r by its Taylor polynomial to r^7.

    m = n + 128 stays an int32 (numba widens int32 arithmetic to int64, which costs a third of the time when
    vectorised): n as a float is m - 128 (exact), and 2^n's bits are (m - 1) << 23."""
    y = min(max(-x, -_LIM), _LIM)
    m = np.int32(y * _LOG2E + _ROUND)  # floor(y log2e + 1/2) + 128: the operand is positive
    nf = _F(m) - _F128
    r = (y - nf * _LN2_HI) - nf * _LN2_LO
    p = ((((((_P7 * r + _P6) * r + _P5) * r + _P4) * r + _P3) * r + _P2) * r + _ONE) * r + _ONE
    return _ONE / (_ONE + p * np.int32((m - _I1) << _I23).view(np.float32))


def _gemv(acc: Any, w: Any, lay: int, v: Any, vlay: int) -> None:
    """acc[j] += sum over k of v[vlay, k] w[lay, k, j], four k at a time: acc is read and written once per
    four (its loads and stores, not the arithmetic, bound a row's speed), in one fixed order."""
    hd, gates = w.shape[1], w.shape[2]
    k = 0
    while k + 4 <= hd:
        a0, a1, a2, a3 = v[vlay, k], v[vlay, k + 1], v[vlay, k + 2], v[vlay, k + 3]
        for j in range(gates):
            acc[j] += a0 * w[lay, k, j] + a1 * w[lay, k + 1, j] + a2 * w[lay, k + 2, j] + a3 * w[lay, k + 3, j]
        k += 4
    while k < hd:
        ak = v[vlay, k]
        for j in range(gates):
            acc[j] += ak * w[lay, k, j]
        k += 1


def _gemv_lanes(acc: Any, w: Any, lay: int, v: Any, vlay: int) -> None:
    """_gemv for a block of rows, one row per lane: acc[j, r] += sum over k of v[vlay, k, r] w[lay, k, j], each
    (j, r) in the very expression (and so the order) _gemv takes for a row; vectorised over the rows."""
    hd, gates, lanes = w.shape[1], w.shape[2], acc.shape[1]
    k = 0
    while k + 4 <= hd:
        for j in range(gates):
            w0, w1, w2, w3 = w[lay, k, j], w[lay, k + 1, j], w[lay, k + 2, j], w[lay, k + 3, j]
            for r in range(lanes):
                acc[j, r] += (v[vlay, k, r] * w0 + v[vlay, k + 1, r] * w1 + v[vlay, k + 2, r] * w2
                              + v[vlay, k + 3, r] * w3)
        k += 4
    while k < hd:
        for j in range(gates):
            wk = w[lay, k, j]
            for r in range(lanes):
                acc[j, r] += v[vlay, k, r] * wk
        k += 1


def _block(bt: Any, t: int, w0: int, w1: int, cell: int, wx0: Any, wx: Any, whh: Any, bias: Any, bhh: Any,
           whead: Any, bhead: Any) -> None:
    """_windows for a block of rows held transposed, bt (values, rows): the same arithmetic, expression by
    expression, with each loop over the block's rows innermost (vectorised across rows: each weight is loaded
    once for the block, and no loop has a ragged tail of gates)."""
    lanes = bt.shape[1]
    layers, hd, gates = whh.shape
    steps = whead.shape[0]
    h = np.empty((layers, hd, lanes), np.float32)
    c = np.empty((layers, hd, lanes), np.float32)
    g = np.empty((gates, lanes), np.float32)
    gh = np.empty((gates, lanes), np.float32)
    acc = np.empty(lanes, np.float32)
    for w in range(w0, w1):
        h[:] = 0
        c[:] = 0
        for p in range(t):
            at = w * steps + p
            for lay in range(layers):
                for j in range(gates):
                    b, a = bias[lay, j], wx0[j]
                    if lay == 0:
                        for r in range(lanes):
                            g[j, r] = b + bt[at, r] * a
                    else:
                        for r in range(lanes):
                            g[j, r] = b
                if lay > 0:
                    _gemv_lanes(g, wx, lay - 1, h, lay - 1)
                if cell == 2:  # GRU: r, z, n
                    for j in range(gates):
                        b = bhh[lay, j]
                        for r in range(lanes):
                            gh[j, r] = b
                    _gemv_lanes(gh, whh, lay, h, lay)
                    for j in range(2 * hd):
                        for r in range(lanes):
                            g[j, r] = _sigmoid(g[j, r] + gh[j, r])
                    for j in range(hd):
                        for r in range(lanes):
                            n = _TWO * _sigmoid(g[2 * hd + j, r] + g[j, r] * gh[2 * hd + j, r]) - _ONE
                            h[lay, j, r] = n + g[hd + j, r] * (h[lay, j, r] - n)
                    continue
                _gemv_lanes(g, whh, lay, h, lay)
                if cell == 0:  # RNN: tanh
                    for j in range(hd):
                        for r in range(lanes):
                            h[lay, j, r] = _TWO * _sigmoid(g[j, r]) - _ONE
                    continue
                for j in range(gates):  # LSTM: i, f, g, o
                    for r in range(lanes):
                        g[j, r] = _sigmoid(g[j, r])
                for j in range(hd):
                    for r in range(lanes):
                        cc = g[hd + j, r] * c[lay, j, r] + g[j, r] * (_TWO * g[2 * hd + j, r] - _ONE)
                        c[lay, j, r] = cc
                        h[lay, j, r] = g[3 * hd + j, r] * (_TWO * _sigmoid(_TWO * cc) - _ONE)
        for q in range(steps):
            b = bhead[q]
            for r in range(lanes):
                acc[r] = b
            for k in range(hd):
                a = whead[q, k]
                for r in range(lanes):
                    acc[r] += h[layers - 1, k, r] * a
            for r in range(lanes):
                bt[t + w * steps + q, r] = acc[r]


def _windows(buf: Any, t: int, w0: int, w1: int, cell: int, wx0: Any, wx: Any, whh: Any, bias: Any, bhh: Any,
             whead: Any, bhead: Any) -> None:
    """Fill buf[:, t + w*K : t + (w+1)*K] for windows w0 <= w < w1 of every row: window w runs the network
    over buf[:, w*K : w*K + t] and its head (whead (K, H), bhead (K,)) gives the next K values.

    wx0 (G,): layer 0's input weights; wx (L-1 or 1, H, G): the others'; whh (L, H, G); bias (L, G), the
    biases summed (GRU: the input's only, bhh (L, G) the recurrent ones, kept apart as r scales them).
    """
    rows = buf.shape[0]
    layers, hd, gates = whh.shape
    steps = whead.shape[0]
    h = np.empty((layers, hd), np.float32)
    c = np.empty((layers, hd), np.float32)
    g = np.empty(gates, np.float32)
    gh = np.empty(gates, np.float32)
    for row in range(rows):
        for w in range(w0, w1):
            h[:] = 0
            c[:] = 0
            for p in range(t):
                x = buf[row, w * steps + p]
                for lay in range(layers):
                    for j in range(gates):
                        g[j] = bias[lay, j] + x * wx0[j] if lay == 0 else bias[lay, j]
                    if lay > 0:
                        _gemv(g, wx, lay - 1, h, lay - 1)
                    if cell == 2:  # GRU: r, z, n
                        for j in range(gates):
                            gh[j] = bhh[lay, j]
                        _gemv(gh, whh, lay, h, lay)
                        for j in range(2 * hd):
                            g[j] = _sigmoid(g[j] + gh[j])
                        for j in range(hd):
                            n = _TWO * _sigmoid(g[2 * hd + j] + g[j] * gh[2 * hd + j]) - _ONE
                            h[lay, j] = n + g[hd + j] * (h[lay, j] - n)
                        continue
                    _gemv(g, whh, lay, h, lay)
                    if cell == 0:  # RNN: tanh
                        for j in range(hd):
                            h[lay, j] = _TWO * _sigmoid(g[j]) - _ONE
                        continue
                    for j in range(gates):  # LSTM: i, f, g, o
                        g[j] = _sigmoid(g[j])
                    for j in range(hd):
                        cc = g[hd + j] * c[lay, j] + g[j] * (_TWO * g[2 * hd + j] - _ONE)
                        c[lay, j] = cc
                        h[lay, j] = g[3 * hd + j] * (_TWO * _sigmoid(_TWO * cc) - _ONE)
            for q in range(steps):
                acc = bhead[q]
                for k in range(hd):
                    acc += h[layers - 1, k] * whead[q, k]
                buf[row, t + w * steps + q] = acc


if numba is not None:
    # IEEE arithmetic in the order the source writes it, but for `contract` (a * b + c as one fused multiply-add,
    # chosen by the same pattern for a lane of a vector as for a scalar): the row and block kernels give a
    # window the same bits (tests/core/test_rollout_kernel.py). No reassociation, which would let each loop
    # sum in its own order.
    _flags: dict[str, Any] = {"boundscheck": False, "error_model": "numpy", "fastmath": {"contract"}}
    _sigmoid = numba.njit(inline="always", **_flags)(_sigmoid)
    _gemv = numba.njit(inline="always", **_flags)(_gemv)
    _gemv_lanes = numba.njit(inline="always", **_flags)(_gemv_lanes)
    try:  # their builds cached beside the module, or in the user's cache folder
        _windows = numba.njit(cache=True, nogil=True, **_flags)(_windows)
        _block = numba.njit(cache=True, nogil=True, **_flags)(_block)
    except RuntimeError:  # no writable place to cache them: compiled in each process
        _windows = numba.njit(nogil=True, **_flags)(_windows)
        _block = numba.njit(nogil=True, **_flags)(_block)


def supports(model: nn.Module) -> bool:
    """Whether the kernel runs `model`: numba is here, and it is a core Forecaster (any head) in float32 on the
    CPU whose layers' weights fit the cache (common.defaults.kernel_serves: a row at a time re-reads them every
    step, and past 1 MiB torch's batched matmuls are faster). Decided by the model alone, never by the batch."""
    rnn, head = getattr(model, "rnn", None), getattr(model, "head", None)
    if numba is None or not (
        isinstance(rnn, nn.RNNBase) and isinstance(head, nn.Linear) and rnn.mode in CELLS and rnn.bias
        and not rnn.bidirectional and getattr(rnn, "proj_size", 0) == 0 and rnn.batch_first and rnn.input_size == 1
    ):
        return False
    if not kernel_serves(rnn.hidden_size, {"RNN_TANH": "RNN"}.get(rnn.mode, rnn.mode)):
        return False  # its weights leave the cache: torch's batched matmuls, alone or batched alike
    param = next(model.parameters())
    return bool(param.dtype.is_floating_point and param.itemsize == 4 and param.device.type == "cpu")


def _weights(model: nn.Module) -> tuple[int, tuple[np.ndarray, ...]]:
    """(cell, (wx0, wx, whh, bias, bhh, whead, bhead)) as the kernel reads them."""
    rnn, head = model.rnn, model.head
    assert isinstance(rnn, nn.RNNBase) and isinstance(head, nn.Linear)
    cell, layers = CELLS[rnn.mode], rnn.num_layers

    hd = rnn.hidden_size
    scale = np.ones(GATES[cell] * hd, np.float32)  # the pre-activations that go through tanh, doubled (exact)
    scale[{0: slice(None), 1: slice(2 * hd, 3 * hd), 2: slice(2 * hd, None)}[cell]] = 2

    def arr(name: str) -> np.ndarray:
        value = getattr(rnn, name).detach().numpy()
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
    layers, hd, gates = arrays[2].shape  # whh
    per_window = b * t * layers * gates * (hd + 1)
    chunk = count if should_stop is None else max(1, CHUNK_MACS // per_window)
    poll = StopPoll(should_stop) if should_stop is not None else None
    ranges = _blocks(b)
    blocks = []
    for r0, r1, width in ranges:  # (values, rows): a row per lane, padded with zero rows to the block's width
        bt = np.zeros((buf.shape[1], width), np.float32)
        bt[:, : r1 - r0] = buf[r0:r1].T
        blocks.append(bt)
    rest = buf[ranges[-1][1] if ranges else 0 :]
    for w0 in range(0, count, chunk):
        if poll is not None:
            poll.step()
        w1 = min(count, w0 + chunk)
        for bt in blocks:
            _block(bt, t, w0, w1, cell, *arrays)
        if len(rest):
            _windows(rest, t, w0, w1, cell, *arrays)
    for (r0, r1, _), bt in zip(ranges, blocks, strict=True):
        buf[r0:r1] = bt[:, : r1 - r0].T
    return buf[:, t : t + horizon]


def _blocks(rows: int) -> list[tuple[int, int, int]]:
    """(first row, end row, block width) of each block the block kernel runs; the rows after the last run in
    the row kernel. A lane's arithmetic is its row's alone, so padding rows change no real row's bits."""
    ranges, r0 = [], 0
    while rows - r0 >= MIN_BLOCK * PAD_SHARE:
        rest = rows - r0
        width = rest // VECTOR * VECTOR
        if rest - width >= VECTOR * PAD_SHARE:
            width += VECTOR
        width = min(LANES, max(MIN_BLOCK, width))
        ranges.append((r0, min(rows, r0 + width), width))
        r0 += width
    return ranges


def warm() -> None:
    """Compile the kernel now (a few seconds, or its cached build read back), not in a forecast's time."""
    if numba is None:
        return
    one = np.zeros((1, 1, 1), np.float32)
    weights = (np.zeros(1, np.float32), one, one, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32),
               np.zeros((1, 1), np.float32), np.zeros(1, np.float32))
    _windows(np.zeros((1, 2), np.float32), 1, 0, 1, 0, *weights)
    _block(np.zeros((2, VECTOR), np.float32), 1, 0, 1, 0, *weights)
