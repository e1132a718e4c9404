"""The rollout kernel's compiled loops (core.kernel runs them): a rollout's windows by row, or in vector lanes.

Two kernels, one arithmetic. `windows_by_row` runs rows one at a time, its vector
loops over a row's gates; `windows_by_lane` runs windows side by side, one per
vector lane, any row's in any lane, its loops over the lanes innermost (each
weight loaded once for all lanes: 0.55 of a row's CPU per window in 64 lanes).
Both are compiled without reassociation (FMA contraction only) and write each
value's arithmetic as the same expression, so every sum is taken in one order: a
window's forecast has the same bits alone, in lanes beside any other windows
(idle lanes change nothing), or by row (common.rollout_work.kernel_plan decides
which and how many lanes; tests per cell, layers, head and batch size).

Arithmetic. Each window runs the network from a zero state over its T values
as torch's cells define them; window w reads the predictions of windows < w, as
the sliding loop does; a multi-step head's K values come from each window, the
next window starting K values on. sigmoid is
1 / (1 + e^-x) and tanh(x) = 2 sigmoid(2x) - 1 (the weights of the pre-activations
that go through tanh are doubled once, exactly, as in core.wavefront), with e^x computed in float32
by range reduction (x = n ln2 + r) and a degree-7 polynomial (~1 ulp): libm's
scalar exp would not vectorise and cost 3x the rest. Results agree with torch's
forward to float32 rounding (tests/core/test_rollout_kernel.py, per cell and layers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:  # numba is the worker's dependency; without it core.forecast takes the pure torch path
    import numba
except ImportError:  # pragma: no cover - exercised where numba is not installed
    numba = None  # type: ignore[assignment]

_F = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_P2, _P3, _P4, _P5, _P6, _P7 = (_F(1.0 / math.factorial(k)) for k in range(2, 8))
_ONE, _TWO, _LIM, _ROUND = _F(1.0), _F(2.0), _F(87.0), _F(128.5)
_F128, _I1, _I23 = _F(128.0), np.int32(1), np.int32(23)


def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x) in float32; e^y = 2^n e^r with |r| <= ln2/2, e^r by its Taylor polynomial to r^7.

    m = n + 128 stays an int32 (numba widens int32 arithmetic to int64, which costs a third of the time when
    vectorised): n as a float is m - 128 (exact), and 2^n's bits are (m - 1) << 23."""
    y = min(max(-x, -_LIM), _LIM)
    m = np.int32(y * _LOG2E + _ROUND)  # floor(y log2e + 1/2) + 128: the operand is positive
    nf = _F(m) - _F128
    r = (y - nf * _LN2_HI) - nf * _LN2_LO
    p = ((((((_P7 * r + _P6) * r + _P5) * r + _P4) * r + _P3) * r + _P2) * r + _ONE) * r + _ONE
    return _ONE / (_ONE + p * np.int32((m - _I1) << _I23).view(np.float32))


def gemv_by_row(acc: Any, w: Any, lay: int, v: Any, vlay: int) -> None:
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


def gemv_by_lane(acc: Any, w: Any, lay: int, v: Any, vlay: int) -> None:
    """gemv_by_row for the lanes, one window per lane: acc[j, r] += sum over k of v[vlay, k, r] w[lay, k, j], each
    (j, r) in the very expression (and so the order) gemv_by_row takes for a row; vectorised over the lanes, two
    gates at a time: each lane's four values of v loaded once for both (docs/performance.md: 3-8% less CPU at 64
    lanes; four gates at a time was slower)."""
    hd, gates, lanes = w.shape[1], w.shape[2], acc.shape[1]
    k = 0
    while k + 4 <= hd:
        j = 0
        while j + 2 <= gates:
            a0, a1, a2, a3 = w[lay, k, j], w[lay, k + 1, j], w[lay, k + 2, j], w[lay, k + 3, j]
            b0, b1, b2, b3 = w[lay, k, j + 1], w[lay, k + 1, j + 1], w[lay, k + 2, j + 1], w[lay, k + 3, j + 1]
            for r in range(lanes):
                x0, x1, x2, x3 = v[vlay, k, r], v[vlay, k + 1, r], v[vlay, k + 2, r], v[vlay, k + 3, r]
                acc[j, r] += x0 * a0 + x1 * a1 + x2 * a2 + x3 * a3
                acc[j + 1, r] += x0 * b0 + x1 * b1 + x2 * b2 + x3 * b3
            j += 2
        if j < gates:  # an odd gate count's last
            a0, a1, a2, a3 = w[lay, k, j], w[lay, k + 1, j], w[lay, k + 2, j], w[lay, k + 3, j]
            for r in range(lanes):
                acc[j, r] += (v[vlay, k, r] * a0 + v[vlay, k + 1, r] * a1 + v[vlay, k + 2, r] * a2
                              + v[vlay, k + 3, r] * a3)
        k += 4
    while k < hd:
        for j in range(gates):
            wk = w[lay, k, j]
            for r in range(lanes):
                acc[j, r] += v[vlay, k, r] * wk
        k += 1


def windows_by_lane(
    buf: Any, t: int, count: int, state: Any, lane: Any, rows_at: Any, clock: Any, budget: int, cell: int, wx0: Any,
    wx: Any, whh: Any, bias: Any, bhh: Any, whead: Any, bhead: Any,
) -> bool:
    """windows_by_row's windows 0 <= w < count of every row, each window run in a vector lane: the same arithmetic,
    expression by expression, with each loop over the lanes innermost (vectorised: each weight is loaded once for
    all lanes). Up to `budget` steps; True once every window is done, the state kept for the next call otherwise.

    A lane runs one window's t steps, one per step of the lanes, then the head's K values; then it takes the next
    window of a row, in turn. A row's windows start at least K steps apart: window w's step p then reads value w*K +
    p after the window that writes it has written it (window u writes u*K + t .. + K at its step t - 1, and
    w*K + p >= u*K + t with w - u >= 1 makes the reader's step come after it). So a row's windows overlap in time,
    and the lanes are full whatever the rows: a batch of one row runs in lanes too.

    state (2, L, H, lanes): h and c; lane (3, lanes): each lane's row, window and step (-1: idle); rows_at (2, rows):
    each row's next window and the step its last one started at; clock (2,): the lanes' step and the row a free lane
    looks at first. A rollout starts them at zero, but lane[2] at -1 and rows_at[1] at -K (core.kernel).
    """
    rows = buf.shape[0]
    lanes = state.shape[3]
    layers, hd, gates = whh.shape
    steps = whead.shape[0]
    h = state[0].copy()  # arrays of this call's own: LLVM knows they do not alias the weights or g
    c = state[1].copy()
    g = np.empty((gates, lanes), np.float32)
    gh = np.empty((gates, lanes), np.float32)
    x = np.empty(lanes, np.float32)
    now, turn = clock[0], clock[1]
    left = 0  # windows not started
    for row in range(rows):
        left += count - rows_at[0, row]
    done = False
    for _ in range(budget):
        busy = 0
        waiting = True  # whether a row may have a window to start now (once none has, no free lane looks)
        for r in range(lanes):
            if lane[2, r] < 0 and waiting:  # free: the next window of the first row in turn that may start one
                waiting = False
                for s in range(rows):
                    row = (turn + s) % rows
                    if rows_at[0, row] < count and now >= rows_at[1, row] + steps:
                        lane[0, r], lane[1, r], lane[2, r] = row, rows_at[0, row], 0
                        rows_at[0, row] += 1
                        rows_at[1, row] = now
                        turn = row + 1
                        left -= 1
                        waiting = True
                        for lay in range(layers):
                            for j in range(hd):
                                h[lay, j, r] = 0
                                c[lay, j, r] = 0
                        break
            if lane[2, r] >= 0:
                busy += 1
                x[r] = buf[lane[0, r], lane[1, r] * steps + lane[2, r]]
            else:
                x[r] = 0  # an idle lane runs on, its values unread
        if busy == 0 and left == 0:
            done = True
            break
        for lay in range(layers):
            for j in range(gates):
                b, a = bias[lay, j], wx0[j]
                if lay == 0:
                    for r in range(lanes):
                        g[j, r] = b + x[r] * a
                else:
                    for r in range(lanes):
                        g[j, r] = b
            if lay > 0:
                gemv_by_lane(g, wx, lay - 1, h, lay - 1)
            if cell == 2:  # GRU: r, z, n
                for j in range(gates):
                    b = bhh[lay, j]
                    for r in range(lanes):
                        gh[j, r] = b
                gemv_by_lane(gh, whh, lay, h, lay)
                for j in range(2 * hd):
                    for r in range(lanes):
                        g[j, r] = sigmoid(g[j, r] + gh[j, r])
                for j in range(hd):
                    for r in range(lanes):
                        n = _TWO * sigmoid(g[2 * hd + j, r] + g[j, r] * gh[2 * hd + j, r]) - _ONE
                        h[lay, j, r] = n + g[hd + j, r] * (h[lay, j, r] - n)
                continue
            gemv_by_lane(g, whh, lay, h, lay)
            if cell == 0:  # RNN: tanh
                for j in range(hd):
                    for r in range(lanes):
                        h[lay, j, r] = _TWO * sigmoid(g[j, r]) - _ONE
                continue
            for j in range(gates):  # LSTM: i, f, g, o
                for r in range(lanes):
                    g[j, r] = sigmoid(g[j, r])
            for j in range(hd):
                for r in range(lanes):
                    cc = g[hd + j, r] * c[lay, j, r] + g[j, r] * (_TWO * g[2 * hd + j, r] - _ONE)
                    c[lay, j, r] = cc
                    h[lay, j, r] = g[3 * hd + j, r] * (_TWO * sigmoid(_TWO * cc) - _ONE)
        busy = 0
        for r in range(lanes):
            p = lane[2, r]
            if p == t - 1:  # the window's last step: its head's K values, as windows_by_row writes them
                row, w = lane[0, r], lane[1, r]
                for q in range(steps):
                    acc = bhead[q]
                    for k in range(hd):
                        acc += h[layers - 1, k, r] * whead[q, k]
                    buf[row, t + w * steps + q] = acc
                lane[2, r] = -1
            elif p >= 0:
                lane[2, r] = p + 1
                busy += 1
        now += 1
        if busy == 0 and left == 0:  # that step wrote the last values: done, not one more call
            done = True
            break
    state[0] = h
    state[1] = c
    clock[0], clock[1] = now, turn
    return done


def windows_by_row(
    buf: Any, t: int, w0: int, w1: int, cell: int, wx0: Any, wx: Any, whh: Any, bias: Any, bhh: Any, whead: Any,
    bhead: Any,
) -> None:
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
                        gemv_by_row(g, wx, lay - 1, h, lay - 1)
                    if cell == 2:  # GRU: r, z, n
                        for j in range(gates):
                            gh[j] = bhh[lay, j]
                        gemv_by_row(gh, whh, lay, h, lay)
                        for j in range(2 * hd):
                            g[j] = sigmoid(g[j] + gh[j])
                        for j in range(hd):
                            n = _TWO * sigmoid(g[2 * hd + j] + g[j] * gh[2 * hd + j]) - _ONE
                            h[lay, j] = n + g[hd + j] * (h[lay, j] - n)
                        continue
                    gemv_by_row(g, whh, lay, h, lay)
                    if cell == 0:  # RNN: tanh
                        for j in range(hd):
                            h[lay, j] = _TWO * sigmoid(g[j]) - _ONE
                        continue
                    for j in range(gates):  # LSTM: i, f, g, o
                        g[j] = sigmoid(g[j])
                    for j in range(hd):
                        cc = g[hd + j] * c[lay, j] + g[j] * (_TWO * g[2 * hd + j] - _ONE)
                        c[lay, j] = cc
                        h[lay, j] = g[3 * hd + j] * (_TWO * sigmoid(_TWO * cc) - _ONE)
            for q in range(steps):
                acc = bhead[q]
                for k in range(hd):
                    acc += h[layers - 1, k] * whead[q, k]
                buf[row, t + w * steps + q] = acc


if numba is not None:
    # LLVM's loop vectoriser runs a loop over the lanes two vectors at a time (interleaving) on this class of CPU,
    # the rest scalar: 16 lanes then ran as slowly as 16 rows alone, and 48 lanes ended in 16 scalar ones. One
    # vector at a time: any multiple of KERNEL_VECTOR lanes vectorised, 23% less CPU at 16 lanes, 0-18% at 32-64
    # (bench/rollout_kernel.py, measured on the kernel of blocks of rows that windows_by_lane replaced). Set before
    # any compiling (numba compiles lazily); each lane's arithmetic is unchanged, and so are the bits. The option
    # is LLVM's, for the whole process: every numba function compiled in it after this import (GRU's training
    # layer's epochs are unchanged by it, the same bench).
    import llvmlite.binding

    llvmlite.binding.set_option("rnncast", "-force-vector-interleave=1")
    # IEEE arithmetic in the order the source writes it, but for `contract` (a * b + c as one fused multiply-add,
    # chosen by the same pattern for a lane of a vector as for a scalar): the row and lane kernels give a
    # window the same bits (tests/core/test_rollout_kernel.py). No reassociation, which would let each loop
    # sum in its own order.
    _flags: dict[str, Any] = {"boundscheck": False, "error_model": "numpy", "fastmath": {"contract"}}
    sigmoid = numba.njit(inline="always", **_flags)(sigmoid)
    gemv_by_row = numba.njit(inline="always", **_flags)(gemv_by_row)
    gemv_by_lane = numba.njit(inline="always", **_flags)(gemv_by_lane)
    try:  # their builds cached beside the module, or in the user's cache folder
        windows_by_row = numba.njit(cache=True, nogil=True, **_flags)(windows_by_row)
        windows_by_lane = numba.njit(cache=True, nogil=True, **_flags)(windows_by_lane)
    except RuntimeError:  # no writable place to cache them: compiled in each process
        windows_by_row = numba.njit(nogil=True, **_flags)(windows_by_row)
        windows_by_lane = numba.njit(nogil=True, **_flags)(windows_by_lane)
