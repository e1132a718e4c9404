"""The sliding-window rollout, computed as one wavefront instead of `horizon` full passes.

A forecast re-runs the network over each window from a zero state: horizon
windows x T steps, one after the other. But window w reads buf[w + p] at its
step p, so at time tau = w + p every live window reads the same value
buf[tau]; and window w finishes at tau = w + T - 1, which is just in time
to give buf[T + w], the first value a later window needs. So all windows
run at once, one new window starting per time step: T + horizon - 1
sequential steps, each a batched cell step over the live windows, instead of
T * horizon. Same arithmetic per window, far fewer (and larger) ops.

Cells are written out (tanh as 2*sigmoid(2x)-1, as in core.fastrnn).

A window's numbers must not depend on the batch it runs in (a server batches
concurrent requests). Rows are independent, but kernels are not blind to
where a row sits: torch's CPU elementwise loops do the last few elements of
a contiguous run in scalar code (whose exp/sigmoid round differently from
the vector code), and BLAS kernels treat row groups by their size. So
`forecast` pads batches with enough rows that every run's scalar tail falls
on padding, in whole 4-row groups (`padded_rows`), runs on one thread
(chunking would move with the batch size), and checks once per shape that
this machine's matmul then gives a row the same bits wherever it sits
(`rows_invariant`); where it does not (MKL for some square shapes, e.g. 9x9
to 11x11), it runs the windows one at a time: slower, still exact.

A rollout's caller may pass `should_stop` (a server: "is the request's
deadline past?"); `StopPoll` asks it every few hundred steps, or more often
when steps are long, and the rollout raises `RolloutStopped`. Asking never
changes the numbers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from rnncast.common.defaults import GATES, TORCH_MODES
from rnncast.common.rollout_work import ROW_GROUP, padded_rows

StopCheck = Callable[[], bool]
CHECK_S = 0.02  # seconds of work between two questions to `should_stop`, about
MAX_STRIDE = 256  # steps between two questions at most: the clock is read once per stride


class RolloutStopped(Exception):
    """The rollout's `should_stop` said stop (its caller's deadline passed): it was abandoned unfinished."""


class StopPoll:
    """Asks `should_stop` once every `stride` steps, the stride adapted to the steps' length: it doubles
    (to MAX_STRIDE) while a stride takes under CHECK_S / 2 and halves (to 1) past CHECK_S, so a rollout of
    tiny steps reads the clock every few hundred steps and one of long steps after each step."""

    def __init__(self, should_stop: StopCheck) -> None:
        self.should_stop = should_stop
        self.stride = self.left = 1
        self.last = time.perf_counter()

    def step(self) -> None:
        """Count one step; raises RolloutStopped when `should_stop()` says so."""
        self.left -= 1
        if self.left:
            return
        if self.should_stop():
            raise RolloutStopped("the rollout was stopped: its deadline passed")
        now = time.perf_counter()
        took, self.last = now - self.last, now
        if took < CHECK_S / 2:
            self.stride = min(2 * self.stride, MAX_STRIDE)
        elif took > CHECK_S:
            self.stride = max(1, self.stride // 2)
        self.left = self.stride


class _Layer:
    """One layer's weights, arranged for inference steps over many rows at once."""

    def __init__(self, rnn: nn.RNNBase, layer: int, cell: str) -> None:
        self.cell = cell
        w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(rnn, f"bias_ih_l{layer}"), getattr(rnn, f"bias_hh_l{layer}")
        self.hidden = w_hh.shape[1]
        h = self.hidden
        if cell == "GRU":  # W_hn h + b_hn is scaled by r: the recurrent part stays apart
            scale = torch.ones(w_ih.shape[0], dtype=w_ih.dtype, device=w_ih.device)
            scale[2 * h :] = 2  # the n pre-activation is used doubled
            self.w_ih, self.b_ih = (w_ih * scale[:, None]).t().contiguous(), b_ih * scale
            self.w_hh, self.b_hh = w_hh.t().contiguous(), b_hh
            return
        scale = torch.ones(w_hh.shape[0], dtype=w_hh.dtype, device=w_hh.device)
        if cell == "RNN":
            scale *= 2
        else:  # LSTM gates i, f, g, o: g goes through tanh
            scale[2 * h : 3 * h] = 2
        self.w_ih = (w_ih * scale[:, None]).t().contiguous()  # (I, G)
        self.b_ih = (b_ih + b_hh) * scale  # (G,)
        self.w_hh = (w_hh * scale[:, None]).t().contiguous()  # (H, G)

    def project(self, x: Tensor) -> Tensor:
        """Input part of the pre-activations: (R, I) -> (R, G)."""
        return torch.addmm(self.b_ih, x, self.w_ih)

    def step(self, xw: Tensor, h: Tensor, c: Tensor | None) -> None:
        """One step for n windows of B rows, states updated in place.

        Args:
            xw: input pre-activations, (B, G) shared by every window or (n, B, G).
            h, c: states (n, B, H); c only for LSTM (kept as 2c).
        """
        n, b, hd = h.shape
        flat = h.view(n * b, hd)
        if self.cell == "GRU":
            gh = torch.addmm(self.b_hh, flat, self.w_hh).view(n, b, 3 * hd)  # (n, B, 3H)
            rz = (xw[..., : 2 * hd] + gh[..., : 2 * hd]).sigmoid_()
            nn_ = torch.addcmul(xw[..., 2 * hd :], rz[..., :hd], gh[..., 2 * hd :], value=2)
            nn_.sigmoid_().mul_(2).sub_(1)
            torch.lerp(nn_, h, rz[..., hd:], out=h)
            return
        a = torch.mm(flat, self.w_hh).view(n, b, -1).add_(xw).sigmoid_()  # (n, B, G)
        if self.cell == "RNN":
            torch.mul(a, 2, out=h).sub_(1)
            return
        assert c is not None
        # c is kept doubled (exact: a power of two), so tanh(c) = 2*sigmoid(2c) - 1 needs no scaling.
        i, f, sg, o = a[..., :hd], a[..., hd : 2 * hd], a[..., 2 * hd : 3 * hd], a[..., 3 * hd :]
        ig2 = torch.addcmul(i * -2, i, sg, value=4)  # 2 * i * g, g = 2*sg - 1
        torch.addcmul(ig2, f, c, out=c)
        torch.addcmul(o.neg(), o, torch.sigmoid(c), value=2, out=h)  # o * tanh(c)


def supports(model: nn.Module) -> bool:
    """Whether `rollout` can run `model`: a core Forecaster with a layer `_Layer` knows and a one-step head
    (a multi-step head's chunked rollout is core.forecast's loop)."""
    rnn, head = getattr(model, "rnn", None), getattr(model, "head", None)
    return (
        isinstance(rnn, nn.RNNBase) and isinstance(head, nn.Linear) and rnn.mode in TORCH_MODES
        and rnn.bias and not rnn.bidirectional and getattr(rnn, "proj_size", 0) == 0 and rnn.batch_first
        and rnn.input_size == 1 and head.out_features == 1
    )


@contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """Run this thread's CPU ops on one thread: split across threads, an elementwise
    op's chunk edges move with the batch size, and so would a row's rounding."""
    before = torch.get_num_threads()
    if device.type != "cpu" or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=512)
def _matmul_rows_invariant(k: int, n: int, bias: bool, dtype: torch.dtype, device: str) -> bool:
    """Whether (M, k) @ (k, n) [+ bias] gives every row the bits it gets at the top of a
    ROW_GROUP-row matmul, for M from ROW_GROUP up by ROW_GROUP, and for a large M.
    Kernels choose their path by shape and position, not by value: random data shows it."""
    block = ROW_GROUP
    gen = torch.Generator().manual_seed(0)
    rows = 32 * block
    a = torch.randn(rows, k, generator=gen, dtype=dtype).to(device)
    w = torch.randn(k, n, generator=gen, dtype=dtype).to(device)
    b = torch.randn(n, generator=gen, dtype=dtype).to(device)

    def mm(x: Tensor) -> Tensor:
        return torch.addmm(b, x, w) if bias else torch.mm(x, w)

    alone = torch.cat([mm(a[i : i + 1].expand(block, k).contiguous())[:1] for i in range(rows)])
    if not all(torch.equal(mm(a[:m]), alone[:m]) for m in range(block, rows + 1, block)):
        return False
    return torch.equal(mm(a.repeat(64, 1)), alone.repeat(64, 1))


def rows_invariant(model: nn.Module, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether every matmul of `model`'s rollout is row-position invariant here (cached per shape)."""
    rnn, head = model.rnn, model.head
    assert isinstance(rnn, nn.RNNBase) and isinstance(head, nn.Linear)
    h = rnn.hidden_size
    g = h * GATES[TORCH_MODES[rnn.mode]]
    shapes = {(rnn.input_size, g, True), (h, g, rnn.mode == "GRU"), (h, 1, True)}
    if rnn.num_layers > 1:
        shapes.add((h, g, True))
    return all(_matmul_rows_invariant(k, n, bias, dtype, str(device)) for k, n, bias in sorted(shapes))


def padded_buffer(windows: Tensor, rows: int, horizon: int) -> Tensor:
    """(rows, T + horizon): the B windows first, then copies of the first as padding rows."""
    b, t = windows.shape
    buf = torch.empty(rows, t + horizon, dtype=windows.dtype, device=windows.device)
    buf[:b, :t] = windows
    buf[b:, :t] = windows[:1]  # padding rows: any valid window
    return buf


def forecast(model: nn.Module, windows: Tensor, horizon: int, should_stop: StopCheck | None = None) -> Tensor:
    """Continue B windows as the sliding loop would: (B, T) -> (B, horizon), each row the
    same to the bit whether it runs alone or in any batch.

    Args:
        model: a Forecaster (`supports(model)`).
        should_stop: asked every few hundred steps; when it says so, RolloutStopped is raised.
    """
    rnn = model.rnn
    assert isinstance(rnn, nn.RNNBase)
    b, t = windows.shape
    with torch.inference_mode(), _one_thread(windows.device):
        if b > 1 and not rows_invariant(model, windows.dtype, windows.device):
            return torch.cat([forecast(model, windows[i : i + 1], horizon, should_stop) for i in range(b)])
        buf = padded_buffer(windows, padded_rows(b, rnn.hidden_size), horizon)
        rollout(model, buf, t, horizon, should_stop)
        return buf[:b, t:].clone()


@torch.inference_mode()
def rollout(model: nn.Module, buf: Tensor, t: int, horizon: int, should_stop: StopCheck | None = None) -> None:
    """Fill buf[:, t:t+horizon] from the windows in buf[:, :t], as the sliding loop would.

    Args:
        model: a Forecaster (`supports(model)`).
        buf: (B, t + horizon), its first t columns the windows; for batch-invariant
            rows, B is `padded_rows` of the real ones (`forecast` sees to it).
        should_stop: as `forecast`'s.
    """
    rnn, head = model.rnn, model.head
    assert isinstance(rnn, nn.RNNBase) and isinstance(head, nn.Linear)
    with _one_thread(buf.device):
        _rollout(rnn, head, buf, t, horizon, StopPoll(should_stop) if should_stop is not None else None)


def _rollout(rnn: nn.RNNBase, head: nn.Linear, buf: Tensor, t: int, horizon: int, poll: StopPoll | None) -> None:
    cell = TORCH_MODES[rnn.mode]
    layers = [_Layer(rnn, k, cell) for k in range(rnn.num_layers)]
    b = buf.shape[0]
    hd = layers[0].hidden
    hs = [buf.new_zeros(horizon, b, hd) for _ in layers]  # one state per window, per layer
    cs: list[Tensor | None] = [buf.new_zeros(horizon, b, hd) if cell == "LSTM" else None for _ in layers]
    w_head, b_head = head.weight.t(), head.bias  # (H, 1), (1,)
    for tau in range(t + horizon - 1):
        if poll is not None:
            poll.step()
        lo, hi = max(0, tau - t + 1), min(tau, horizon - 1)  # live windows
        xw = layers[0].project(buf[:, tau : tau + 1])  # (B, G): every live window reads buf[tau]
        for k, layer in enumerate(layers):
            h, c_all = hs[k][lo : hi + 1], cs[k]
            c = c_all[lo : hi + 1] if c_all is not None else None
            layer.step(xw, h, c)
            if k + 1 < len(layers):
                xw = layers[k + 1].project(h.reshape(-1, hd)).view(h.shape[0], b, -1)
        if tau >= t - 1:  # window lo has read its t values: its prediction is buf[t + lo]
            buf[:, tau + 1] = torch.addmm(b_head, hs[-1][lo], w_head)[:, 0]
