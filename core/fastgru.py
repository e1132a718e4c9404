"""A float32 GRU layer for training on the CPU, its recurrence compiled by numba, forward and backward.

Why. torch runs an LSTM's whole sequence as one oneDNN op, but has no such op
for a GRU on the CPU; written out in torch (core.fastrnn's loop) a GRU step is
~8 dispatched ops forward and ~6 back, and it trained at half the LSTM's
arithmetic rate. Here a layer is one autograd node whose recurrence is one
compiled loop over the steps: per step the product with W_hh for the three
gates at once, then the gates and the new state in one pass, no temporaries;
the backward walks the steps in reverse with one product with W_hh per step.
The input projection of all steps is one matmul before, the recurrent weight
gradient one batched matmul after (torch's).

Layout. Rows are the innermost axis of every array the loops touch, (T, G, B):
each statement runs over a batch's rows as one long vector loop (no per-row
work is repeated, nothing is transposed between layers). The layout is this
module's own: `run` takes and gives what torch.nn.GRU does.

Arithmetic. The same cell as torch.nn.GRU (gates r, z, n; W_hn h + b_hn scaled
by r) and the same parameters (names, shapes, gate order: checkpoints do not
change); sigmoid is core.kernel_loops' float32 one (~1 ulp), tanh(x) = 2 sigmoid(2x) - 1.
Values and gradients equal torch's to float32 rounding (tests/core/test_fastgru.py).
float32 only: a float64 layer takes core.fastrnn's torch loop. Double backward is not supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from rnncast.core.kernel_loops import numba, sigmoid  # numba: None where it is not installed

_ONE, _TWO = np.float32(1.0), np.float32(2.0)


def serves(x: Tensor) -> bool:
    """Whether `run` takes this input: numba is here and it is float32 on the CPU."""
    return numba is not None and x.dtype == torch.float32 and x.device.type == "cpu"


def _product(out: Any, w: Any, v: Any, transposed: bool) -> None:
    """out[j] += sum over i of w[j, i] v[i] (w[i, j] when `transposed`), every row at once: out (J, B), v (I, B).
    Four i at a time: out's loads and stores, not the arithmetic, bound it."""
    rows, n = out.shape[1], v.shape[0]
    for j in range(out.shape[0]):
        i = 0
        while i + 4 <= n:
            if transposed:
                w0, w1, w2, w3 = w[i, j], w[i + 1, j], w[i + 2, j], w[i + 3, j]
            else:
                w0, w1, w2, w3 = w[j, i], w[j, i + 1], w[j, i + 2], w[j, i + 3]
            for r in range(rows):
                out[j, r] += w0 * v[i, r] + w1 * v[i + 1, r] + w2 * v[i + 2, r] + w3 * v[i + 3, r]
            i += 4
        while i < n:
            wji = w[i, j] if transposed else w[j, i]
            for r in range(rows):
                out[j, r] += wji * v[i, r]
            i += 1


def _forward(gi: Any, w: Any, b_hh: Any, hs: Any, ghn: Any, rzs: Any, ns: Any, gh: Any) -> None:
    """hs[k + 1] from hs[k] (hs[0] given) for every step k, saving what the backward needs.

    gi (T, 3H, B): W_ih x + b_ih; w (3H, H): W_hh; b_hh (3H,). Out: hs (T + 1, H, B); ghn (T, H, B)
    W_hn h + b_hn; rzs (T, 2H, B) the r and z gates; ns (T, H, B) the candidate n. gh (3H, B): scratch.
    """
    t, g3, b = gi.shape
    hd = g3 // 3
    for k in range(t):
        for j in range(g3):
            for r in range(b):
                gh[j, r] = b_hh[j]
        _product(gh, w, hs[k], False)
        for j in range(2 * hd):
            for r in range(b):
                rzs[k, j, r] = sigmoid(gi[k, j, r] + gh[j, r])
        for j in range(hd):
            for r in range(b):
                ghn[k, j, r] = gh[2 * hd + j, r]
                n = _TWO * sigmoid(_TWO * (gi[k, 2 * hd + j, r] + rzs[k, j, r] * gh[2 * hd + j, r])) - _ONE
                ns[k, j, r] = n
                hs[k + 1, j, r] = n + rzs[k, hd + j, r] * (hs[k, j, r] - n)


def _backward(dhs: Any, w: Any, hs: Any, ghn: Any, rzs: Any, ns: Any, dgh: Any, dgi: Any, dh: Any) -> None:
    """The gradients of W_hh h + b_hh (dgh) and of gi (dgi), (T, 3H, B), from those of the outputs.

    dhs (T, H, B): those of every step's state; w (3H, H): W_hh; dh (2, H, B): scratch.
    """
    t, hd, b = ns.shape
    cur = 0
    for j in range(hd):
        for r in range(b):
            dh[cur, j, r] = dhs[t - 1, j, r]
    for k in range(t - 1, -1, -1):
        nxt = 1 - cur
        for j in range(hd):
            for r in range(b):
                rr, z, n, d = rzs[k, j, r], rzs[k, hd + j, r], ns[k, j, r], dh[cur, j, r]
                dn = d * (_ONE - z) * (_ONE - n * n)  # through n's tanh
                dgi[k, j, r] = dgh[k, j, r] = dn * ghn[k, j, r] * rr * (_ONE - rr)
                dgi[k, hd + j, r] = dgh[k, hd + j, r] = d * (hs[k, j, r] - n) * z * (_ONE - z)
                dgh[k, 2 * hd + j, r] = dn * rr
                dgi[k, 2 * hd + j, r] = dn
                dh[nxt, j, r] = d * z + dhs[k - 1, j, r] if k else d * z
        if k:
            _product(dh[nxt], w, dgh[k], True)
        cur = nxt


if numba is not None:
    _product = numba.njit(inline="always", fastmath={"contract"}, boundscheck=False, error_model="numpy")(_product)
    _flags: dict[str, Any] = {"boundscheck": False, "error_model": "numpy", "nogil": True, "fastmath": {"contract"}}
    try:  # its build cached beside the module, or in the user's cache folder
        _forward = numba.njit(cache=True, **_flags)(_forward)
        _backward = numba.njit(cache=True, **_flags)(_backward)
    except RuntimeError:  # no writable place to cache it: compiled in each process
        _forward = numba.njit(**_flags)(_forward)
        _backward = numba.njit(**_flags)(_backward)


class _Recurrence(torch.autograd.Function):
    """hs[1:] (T, H, B) = recurrence(gi (T, 3H, B); W_hh, b_hh) for one layer from a zero state."""

    @staticmethod
    def forward(ctx: Any, gi: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
        t, g3, b = gi.shape
        hd = g3 // 3
        hs = gi.new_zeros(t + 1, hd, b)
        ghn, rzs, ns = gi.new_empty(t, hd, b), gi.new_empty(t, 2 * hd, b), gi.new_empty(t, hd, b)
        gi_, w_, b_ = (a.detach().contiguous().numpy() for a in (gi, w_hh, b_hh))
        _forward(gi_, w_, b_, hs.numpy(), ghn.numpy(), rzs.numpy(), ns.numpy(), np.empty((g3, b), np.float32))
        ctx.save_for_backward(w_hh, hs, ghn, rzs, ns)
        return hs[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        w_hh, hs, ghn, rzs, ns = ctx.saved_tensors
        t, hd, b = ns.shape
        dhs = dout.contiguous()
        dgh, dgi = hs.new_empty(t, 3 * hd, b), hs.new_empty(t, 3 * hd, b)
        _backward(
            dhs.numpy(),
            w_hh.detach().contiguous().numpy(),
            hs.numpy(),
            ghn.numpy(),
            rzs.numpy(),
            ns.numpy(),
            dgh.numpy(),
            dgi.numpy(),
            np.empty((2, hd, b), np.float32),
        )
        dw_hh = torch.bmm(dgh, hs[:-1].transpose(1, 2)).sum(0)  # (3H, H): over steps and rows
        return dgi, dw_hh, dgh.sum((0, 2))


def run(module: nn.RNNBase, x: Tensor, every_step: bool = False) -> Tensor:
    """The last layer's state at the last step, as `module(x)[0][:, -1]`: (B, T, I) -> (B, H) (a float32 GRU);
    with `every_step`, at every step, as `module(x)[0]`: (B, T, H)."""
    inp = x.permute(1, 2, 0)  # (T, I, B)
    for layer in range(module.num_layers):
        w_ih, w_hh = getattr(module, f"weight_ih_l{layer}"), getattr(module, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(module, f"bias_ih_l{layer}"), getattr(module, f"bias_hh_l{layer}")
        gi = torch.matmul(w_ih, inp).add_(b_ih[:, None])  # (T, 3H, B)
        out: Tensor = _Recurrence.apply(gi, w_hh, b_hh)  # (T, H, B)
        if module.dropout and layer + 1 < module.num_layers:
            out = F.dropout(out, module.dropout, module.training)
        inp = out
    return inp.permute(2, 0, 1) if every_step else inp[-1].t()  # (B, T, H) or (B, H)


def warm() -> None:
    """Compile (or read back from numba's cache) the recurrence's forward and backward now, with the argument
    types training passes, not in a GRU job's first batch."""
    if numba is None:
        return
    gru = nn.GRU(1, 2, batch_first=True)
    run(gru, torch.zeros(2, 3, 1)).sum().backward()
