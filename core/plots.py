"""PNG figures in the style of the tutorial's two plots (matplotlib's Agg canvas, no pyplot)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib costs ~30 MB: imported on the first figure, not by training workers
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CELL_COLORS = {"RNN": "tab:blue", "LSTM": "tab:orange", "GRU": "tab:green"}


@dataclass(frozen=True)
class LossRun:
    """One run's per-epoch losses, grouped under `label` (usually the cell), and its rates when they vary."""

    label: str
    train_loss: Sequence[float]
    test_loss: Sequence[float]
    lr: Sequence[float] | None = None
    epochs: Sequence[int] | None = None  # each value's epoch, where the history was thinned (else 1, 2, ...)


@dataclass(frozen=True)
class PredictionLine:
    """One model's forecast at `x`, with its prediction intervals (level, lower, upper) drawn as shaded bands."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    bands: Sequence[tuple[float, Sequence[float], Sequence[float]]] = ()


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    # Figure + Agg canvas, no pyplot: no global state, safe in worker threads. Imported on the
    # first figure: matplotlib stays out of the processes that only train.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Every text is drawn as it is written: titles carry users' names, and `$...$` in one is not TeX to parse (a
    # name such as "$$" failed the whole figure).
    matplotlib.rcParams["text.parse_math"] = False
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _color(label: str, index: int) -> str:
    return CELL_COLORS.get(label, f"C{index % 10}")


def _band(ax: Axes, curves: list[Sequence[float]], color: str, style: str, label: str,
          x: Sequence[int] | None = None) -> None:
    n = min(len(c) for c in curves)
    if n == 0:
        return
    arr = np.array([c[:n] for c in curves], dtype=np.float64)  # (runs, epochs)
    epochs = np.asarray(x[:n]) if x is not None else np.arange(1, n + 1)
    ax.plot(epochs, arr.mean(axis=0), style, color=color, label=label)
    if arr.shape[0] > 1:
        ax.fill_between(epochs, arr.min(axis=0), arr.max(axis=0), color=color, alpha=0.15, linewidth=0)


def loss_png(runs: Sequence[LossRun], title: str = "Train/Test Loss") -> bytes:
    """Train (solid) and test (dashed) loss per epoch, log scale.

    Runs that share a label are drawn as their mean with a min-max band.
    """
    fig, ax = _figure(8, 5)
    labels = list(dict.fromkeys(r.label for r in runs))
    for i, label in enumerate(labels):
        group = [r for r in runs if r.label == label]
        color = _color(label, i)
        n = f" (n={len(group)})" if len(group) > 1 else ""
        x = group[0].epochs
        _band(ax, [r.train_loss for r in group], color, "-", f"{label} train{n}", x)
        _band(ax, [r.test_loss for r in group], color, "--", f"{label} test{n}", x)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.set_title(title)
    if labels:
        ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    scheduled = [r for r in runs if r.lr and len(set(r.lr)) > 1]
    if scheduled:  # a schedule: each cell's rate (its first seed's) on a second axis
        rates = ax.twinx()
        for i, label in enumerate(labels):
            first = next((r for r in scheduled if r.label == label), None)
            if first is not None and first.lr is not None:
                at = np.asarray(first.epochs) if first.epochs is not None else np.arange(1, len(first.lr) + 1)
                rates.plot(at, first.lr, ":", color=_color(label, i), linewidth=1)
        rates.set_yscale("log")
        rates.set_ylabel("learning rate (dotted)")
    return _png(fig)


def prediction_png(
    context_x: Sequence[float],
    context_y: Sequence[float],
    predictions: Sequence[PredictionLine],
    exact_x: Sequence[float] | None = None,
    exact_y: Sequence[float] | None = None,
    title: str = "Predictions",
) -> bytes:
    """Context line, exact continuation, and each model's predictions as markers."""
    fig, ax = _figure(10, 5)
    ax.plot(context_x, context_y, "-", color="black", label="context")
    if exact_x is not None and exact_y is not None:
        ax.plot(exact_x, exact_y, "-", color="gray", alpha=0.7, label="exact")
    markers = "o^sDv"
    for i, line in enumerate(predictions):
        for level, lower, upper in sorted(line.bands, reverse=True):  # the widest first, the narrower over it
            ax.fill_between(line.x, lower, upper, color=_color(line.label, i), alpha=0.12 + 0.1 * (1 - level),
                            linewidth=0, label=f"{level:g} interval")
        ax.plot(
            line.x, line.y, markers[i % len(markers)], color=_color(line.label, i),
            markersize=3, label=line.label,
        )
    ax.set_xlabel("t")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _png(fig)


MAX_PLOT_POINTS = 20_000


def series_png(x: np.ndarray, y: np.ndarray, title: str) -> bytes:
    """A series as a line (a long one thinned to at most MAX_PLOT_POINTS points)."""
    stride = max(1, -(-x.shape[0] // MAX_PLOT_POINTS))
    # Values near float64's end (a series may hold any finite number) leave the axes no finite span: drawn
    # scaled, the axis saying by how much.
    top = float(np.max(np.abs(y))) if y.size else 0.0
    power = int(np.floor(np.log10(top))) if top > 1e300 else 0
    fig, ax = _figure(10, 4)
    ax.plot(x[::stride], y[::stride] / 10.0**power, "-", color="black", linewidth=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel(f"value (x 1e{power})" if power else "value")
    ax.set_title(title + (f" (every {stride}th value)" if stride > 1 else ""))
    ax.grid(True, alpha=0.3)
    return _png(fig)


def backtest_png(per_step: dict[str, Sequence[float | None]], metric: str, title: str) -> bytes:
    """One error curve per forecaster (the model and the baselines) by horizon step, log scale."""
    fig, ax = _figure(8, 5)
    styles = {"model": ("-", "tab:orange"), "naive": ("--", "tab:gray"), "seasonal_naive": (":", "tab:blue"),
              "seasonal_naive_drift": ("-.", "tab:green")}
    for i, (label, values) in enumerate(per_step.items()):
        style, color = styles.get(label, ("-", f"C{i % 10}"))
        steps = np.arange(1, len(values) + 1)
        ys = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        ax.plot(steps, ys, style, color=color, marker="o" if len(values) <= 30 else None, markersize=3,
                label=label.replace("_", " "))
    ax.set_yscale("log")
    ax.set_xlabel("horizon step")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return _png(fig)


def ensemble_png(
    context_x: Sequence[float], context_y: Sequence[float], x: Sequence[float], exact_y: Sequence[float] | None,
    cells: dict[str, dict[str, Any]], title: str = "Ensemble forecast",
) -> bytes:
    """Per cell, the mean forecast over its seeds with a band of mean +- 2 std, the min-max range dotted and the
    conformal intervals asked for dashed."""
    fig, ax = _figure(10, 5)
    ax.plot(context_x, context_y, "-", color="black", label="context")
    if exact_y is not None:
        ax.plot(list(x)[: len(exact_y)], exact_y, "-", color="gray", alpha=0.7, label="exact")
    for i, (cell, band) in enumerate(cells.items()):
        color = _color(cell, i)
        values = {k: np.array([np.nan if v is None else v for v in band[k]], dtype=np.float64)
                  for k in ("mean", "lower", "upper", "min", "max")}
        ax.plot(x, values["mean"], "-", color=color, label=f"{cell} mean (n={band['n']})")
        ax.fill_between(x, values["lower"], values["upper"], color=color, alpha=0.2, linewidth=0)
        ax.plot(x, values["min"], ":", color=color, linewidth=0.8)
        ax.plot(x, values["max"], ":", color=color, linewidth=0.8)
        for interval in band.get("intervals") or []:  # conformal intervals around the mean, dashed
            for side in ("lower", "upper"):
                ys = np.array([np.nan if v is None else v for v in interval[side]], dtype=np.float64)
                ax.plot(x, ys, "--", color=color, linewidth=0.8,
                        label=f"{cell} {interval['level']:g} interval" if side == "lower" else None)
    ax.set_xlabel("t")
    ax.set_ylabel("y")
    ax.set_title(title + " (band: mean +- 2 std; dotted: min and max over seeds)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _png(fig)
