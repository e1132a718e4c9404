"""torch.nn's RNN and GRU layers, written out with fewer ops per time step.

Small recurrent layers on a CPU spend their time dispatching ops, not doing
arithmetic: at hidden 20, `nn.GRU` runs ~20 autograd-recorded ops per step
forward and back. Here one layer is one autograd node. Its forward runs a few
ops per step and saves what the backward needs; its backward first turns
those activations into per-step coefficients for all steps at once (the
gradient of a step is linear in the incoming dh), then loops over time with
two or three ops per step, and gets the weight gradients from one matmul
over all steps. tanh is computed as 2*sigmoid(2x)-1: same function, and
torch's CPU sigmoid is ~10x faster than its tanh.

A float32 GRU goes further: its recurrence is compiled (core.fastgru, numba),
and this module's GRU loop serves float64 and where numba is not installed.
LSTM is left to torch: its CPU path (oneDNN) already runs the whole sequence
as one op, faster than a written-out form (figures in docs/performance.md,
the levers table). The parameters are the `nn.RNN/GRU`
module's own (same names, shapes and gate order), so checkpoints do not
change. Double backward is not supported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from rnncast.common.defaults import TORCH_MODES
from rnncast.core import fastgru

Grads = tuple[Tensor, Tensor, Tensor]  # d gi (T, B, G), d W_hh (G, H), d b_hh (G,)

def _rnn_forward(gi: Tensor, w_hh: Tensor, b_hh: Tensor, save: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
    t, b, h = gi.shape
    pre = torch.add(gi, b_hh).mul_(2)  # (T, B, H): 2 * (W_ih x + b_ih + b_hh)
    w2 = w_hh * 2
    hs = gi.new_zeros(t + 1, b, h)  # hs[0] = h0 = 0
    for k in range(t):
        torch.addmm(pre[k], hs[k], w2.t(), out=hs[k + 1])
        hs[k + 1].sigmoid_().mul_(2).sub_(1)
    return hs, (hs,) if save else ()


def _rnn_backward(saved: tuple[Tensor, ...], w_hh: Tensor, dhs: Tensor, last_only: bool) -> Grads:
    (hs,) = saved
    t, b, h = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dpre = torch.mul(hs[1:], hs[1:]).neg_().add_(1)  # (T, B, H): 1 - h^2, then the grads in place
    dh = dhs if last_only else dhs[-1]
    for k in range(t - 1, -1, -1):
        dpre[k].mul_(dh)
        if k:
            dh = dpre[k] @ w_hh if last_only else torch.addmm(dhs[k - 1], dpre[k], w_hh)
    flat = dpre.view(t * b, h)
    return dpre, flat.t() @ hs[:-1].reshape(t * b, h), flat.sum(0)


def _gru_forward(gi: Tensor, w_hh: Tensor, b_hh: Tensor, save: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
    t, b, g3 = gi.shape
    h = g3 // 3
    gi_rz = gi[..., : 2 * h]
    gi_n2 = gi[..., 2 * h :] * 2  # (T, B, H), doubled: n = 2*sigmoid(2*pre) - 1
    hs = gi.new_zeros(t + 1, b, h)
    ghs = gi.new_empty(t, b, g3)  # W_hh h + b_hh per step (gates r, z, n)
    rzs = gi.new_empty(t, b, 2 * h)
    ns = gi.new_empty(t, b, h)
    for k in range(t):
        gh = torch.addmm(b_hh, hs[k], w_hh.t(), out=ghs[k])
        rz = torch.add(gi_rz[k], gh[:, : 2 * h], out=rzs[k]).sigmoid_()
        n = torch.addcmul(gi_n2[k], rz[:, :h], gh[:, 2 * h :], value=2, out=ns[k])
        n.sigmoid_().mul_(2).sub_(1)
        torch.lerp(n, hs[k], rz[:, h:], out=hs[k + 1])  # (1 - z) * n + z * h
    return hs, (hs, ghs, rzs, ns) if save else ()


def _gru_backward(saved: tuple[Tensor, ...], w_hh: Tensor, dhs: Tensor, last_only: bool) -> Grads:
    hs, ghs, rzs, ns = saved
    t, b, h = ns.shape
    r, z = rzs[..., :h], rzs[..., h:]
    # Per-step coefficients, all steps at once (no cat: written into their slots).
    coef = torch.empty(t, b, 3, h, dtype=hs.dtype)  # d(W_hh h + b_hh) = dh * coef, gates r, z, n
    c_r, c_z, c_n = coef[:, :, 0], coef[:, :, 1], coef[:, :, 2]
    dnpre = torch.mul(ns, ns).neg_().add_(1)  # 1 - n^2
    dnpre.mul_(torch.sub(1, z))  # d pre_n / d h_new = (1 - z)(1 - n^2)
    torch.mul(dnpre, r, out=c_n)
    torch.mul(c_n, ghs[..., 2 * h :], out=c_r).mul_(torch.sub(1, r))
    torch.sub(hs[:-1], ns, out=c_z).mul_(z).mul_(torch.sub(1, z))
    coef3 = coef.view(t, b, 3 * h)
    zc = z.contiguous()
    dgh = torch.empty(t, b, 3 * h, dtype=hs.dtype)
    dh_in = torch.empty(t, b, h, dtype=hs.dtype)  # dh arriving at each step's output
    dh = dhs if last_only else dhs[-1]
    for k in range(t - 1, -1, -1):
        dh_in[k] = dh
        # dh repeated per gate: a contiguous product is several times faster than a broadcast one.
        torch.mul(coef3[k], dh.repeat(1, 3), out=dgh[k])
        if k:
            direct = dh * zc[k] if last_only else torch.addcmul(dhs[k - 1], dh, zc[k])
            dh = torch.addmm(direct, dgh[k], w_hh)
    flat = dgh.view(t * b, 3 * h)
    dw_hh, db_hh = flat.t() @ hs[:-1].reshape(t * b, h), flat.sum(0)
    torch.mul(dh_in, dnpre, out=dgh[..., 2 * h :])  # now d gi: the n input part skips r
    return dgh, dw_hh, db_hh


_FORWARD = {"RNN": _rnn_forward, "GRU": _gru_forward}
_BACKWARD = {"RNN": _rnn_backward, "GRU": _gru_backward}


class _Recurrence(torch.autograd.Function):
    """hs = recurrence(gi; W_hh, b_hh) for one layer, time-major, from a zero state."""

    @staticmethod
    def forward(
        ctx: Any, cell: str, gi: Tensor, w_hh: Tensor, b_hh: Tensor, last_only: bool
    ) -> Tensor:
        hs, saved = _FORWARD[cell](gi, w_hh, b_hh, True)
        ctx.cell, ctx.last_only = cell, last_only
        ctx.save_for_backward(w_hh, *saved)
        return hs[-1] if last_only else hs[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor) -> tuple[None, Tensor, Tensor, Tensor, None]:
        w_hh, *saved = ctx.saved_tensors
        dgi, dw_hh, db_hh = _BACKWARD[ctx.cell](tuple(saved), w_hh, dout.contiguous(), ctx.last_only)
        return None, dgi, dw_hh, db_hh, None


def supports(module: nn.RNNBase, x: Tensor) -> bool:
    """Whether `run` can stand in for `module(x)`: a CPU float RNN (tanh) or GRU, one-way, biased, batch first."""
    return (
        x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.dim() == 3
        and TORCH_MODES.get(module.mode) in ("RNN", "GRU") and module.bias and not module.bidirectional
        and module.batch_first
    )


def run(module: nn.RNNBase, x: Tensor, every_step: bool = False) -> Tensor:
    """The last layer's hidden state at the last step, as `module(x)[0][:, -1]`: (B, T, I) -> (B, H); with
    `every_step`, at every step, as `module(x)[0]`: (B, T, H)."""
    if module.mode == "GRU" and fastgru.serves(x):
        return fastgru.run(module, x, every_step)  # compiled (float32)
    cell = TORCH_MODES[module.mode]
    if cell == "LSTM":  # not `supports`ed
        raise ValueError("this path runs RNN and GRU modules; an LSTM runs torch's own fused kernel")
    b, t, _ = x.shape
    inp = x.transpose(0, 1)  # (T, B, I)
    for layer in range(module.num_layers):
        w_ih, w_hh = getattr(module, f"weight_ih_l{layer}"), getattr(module, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(module, f"bias_ih_l{layer}"), getattr(module, f"bias_hh_l{layer}")
        gi = torch.addmm(b_ih, inp.reshape(t * b, -1), w_ih.t()).view(t, b, -1)  # (T, B, G)
        last = layer == module.num_layers - 1
        last_only = last and not every_step
        out: Tensor
        if torch.is_grad_enabled() and (gi.requires_grad or w_hh.requires_grad or b_hh.requires_grad):
            out = _Recurrence.apply(cell, gi, w_hh, b_hh, last_only)
        else:  # nothing to differentiate: save nothing
            hs = _FORWARD[cell](gi, w_hh, b_hh, False)[0]
            out = hs[-1] if last_only else hs[1:]
        if last:
            return out.transpose(0, 1) if every_step else out  # (B, T, H) or (B, H)
        inp = F.dropout(out, module.dropout, module.training) if module.dropout else out  # (T, B, H)
    raise AssertionError("unreachable: num_layers >= 1")

