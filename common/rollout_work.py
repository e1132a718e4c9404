"""The cost model of a forecast's rollout: the work one rollout of a model does, in train_cost's units (a
multiply-add is 1), for torch's path (core.wavefront) and the fused kernel's (core.kernel), how many vector
lanes the kernel runs a rollout's windows in, and what RNNCAST_MAX_FORECAST_WORK allows. Standard library only
(the API reads it too).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from rnncast.common.defaults import GATES

# A rollout's cost (core.wavefront), in train_cost's units (a multiply-add is 1). Rows are padded
# (`padded_rows`); each window-step of a layer costs gates x hidden x (hidden + ELEMENTWISE_COST): the
# matmul's multiply-adds and, per gate unit, a run of elementwise ops; each sequential step of a layer
# costs STEP_OVERHEAD (op dispatch, whatever the width) and WEIGHT_READ_COST per weight (a step reads
# every layer's recurrent and, above the first, input weights from memory, however few its rows); the
# weights are rearranged once (SETUP_COST each). Fitted to measured times by bench/forecast_work_calibration.py.
VECTOR_RUN = 32  # elements: two AVX-512 float32 vectors, the widest step of torch's CPU loops
ROW_GROUP = 4  # matmuls see whole groups of this many rows
ELEMENTWISE_COST = 250
STEP_OVERHEAD = 1_700_000
WEIGHT_READ_COST = 32
SETUP_COST = 330


# The fused kernel's rollout (core.kernel) serves models whose layers' hidden-to-gate weights fit
# KERNEL_MAX_LAYER_WEIGHTS floats (in the core's cache), a row and a window at a time, with no padding and no
# per-step dispatch: each cell step of a layer costs KERNEL_MAC_COST per multiply-add (the recurrent weights,
# and above the first layer the input weights too), KERNEL_UNIT_COST per gate unit (its activation) and
# KERNEL_STEP_COST (the loops' own cost). Fitted to measured kernel times over cells, hidden 1..256, 1 and 3
# layers, windows of 10 and 200, 1 and 32 rows (worst factor 3.4), in units that keep the defaults' model's
# full batch at the estimate the torch path had (so RNNCAST_MAX_FORECAST_WORK means the same seconds).
KERNEL_MAX_LAYER_WEIGHTS = 1 << 18  # 1 MiB of float32: LSTM hidden 256, GRU 295, RNN 512
KERNEL_MAC_COST = 8.3
KERNEL_UNIT_COST = 48
KERNEL_STEP_COST = 4_900
# Rows run one at a time (core.kernel_loops.windows_by_row), or their windows side by side in `width` vector lanes
# (windows_by_lane: a multiple of KERNEL_VECTOR, a 512-bit vector's float32s, up to KERNEL_LANES), whichever the
# model below finds cheaper (kernel_plan). Each step of the lanes costs, whatever their width, KERNEL_LANES_MAC_COST
# per multiply-add of one lane's cell step (the loops' own cost, per weight loaded once for all lanes) and
# KERNEL_LANES_STEP_COST per layer; each lane KERNEL_LANE_MAC_COST per multiply-add, KERNEL_LANE_UNIT_COST per gate
# unit and KERNEL_LANE_STEP_COST (its turn: its window's next value, or a window started). Fitted in the row
# kernel's units by bench/kernel_costs.py (cells, hidden 1..128, 1 and 3 layers, 16 to 64 lanes; how near they
# come to measured time: docs/performance.md, "Windows in vector lanes").
KERNEL_LANES, KERNEL_VECTOR = 64, 16
KERNEL_WIDTHS = range(KERNEL_VECTOR, KERNEL_LANES + 1, KERNEL_VECTOR)  # the lanes' widths kernel_plan weighs
KERNEL_LANES_MAC_COST = 92
KERNEL_LANES_STEP_COST = 4_100
KERNEL_LANE_MAC_COST = 2.25
KERNEL_LANE_UNIT_COST = 65
KERNEL_LANE_STEP_COST = 365


def lane_steps(rows: int, windows: int, sequence_length: int, output_steps: int, width: int) -> int:
    """About how many steps windows_by_lane takes for `rows` rows of `windows` windows in `width` lanes: each
    window is sequence_length steps in one lane; the lanes fill in waves, each wave's windows starting in turn,
    `rows` of them every output_steps steps; and a row's windows start output_steps steps apart. Never above the
    kernel's count, and within a tenth of it but for windows shorter than output_steps (tests/core)."""
    n = rows * windows
    if not n:
        return 0
    waves = (n - 1) // width * sequence_length + (n - 1) % width // rows * output_steps + sequence_length
    return max(waves, (windows - 1) * output_steps + sequence_length)


def kernel_serves(hidden_size: int, cell: str) -> bool:
    """Whether core.kernel runs a model of this shape (where numba is installed, as the worker's is)."""
    return GATES[cell] * hidden_size * hidden_size <= KERNEL_MAX_LAYER_WEIGHTS


def padded_rows(b: int, hidden: int) -> int:
    """Rows a rollout of `b` windows runs as: enough padding rows at the end that the scalar tail of every
    contiguous run (< VECTOR_RUN elements) falls on padding, in whole ROW_GROUPs (core.wavefront)."""
    return -(-(b + _spare_rows(hidden)) // ROW_GROUP) * ROW_GROUP


def _spare_rows(hidden: int) -> int:
    return -(-(VECTOR_RUN - 1) // hidden)


def rollout_chunks(horizon: int, output_steps: int) -> int:
    """Forward passes of a rollout that emits `output_steps` values per pass."""
    return -(-horizon // output_steps)


def kernel_counts(hidden_size: int, num_layers: int, cell: str) -> tuple[int, int, int]:
    """A cell step's (hidden-to-gate weights, gate units, multiply-adds) over all layers: the weights of the
    layers' recurrent and, above the first, input weights; the multiply-adds add layer 0's input's, one a unit."""
    weights = GATES[cell] * hidden_size * hidden_size * (2 * num_layers - 1)
    return weights, GATES[cell] * hidden_size * num_layers, weights + GATES[cell] * hidden_size


class KernelTerms(NamedTuple):
    """core.kernel's work for one model and rollout shape: per window-step of a row alone, per step of the lanes
    whatever their width, per step of one lane, and once whatever the rows; and the rollout's shape."""

    alone: float
    lanes: float
    lane: float
    fixed: float
    sequence_length: int
    windows: int
    output_steps: int


def _kernel_terms(sequence_length: int, horizon: int, hidden_size: int, num_layers: int, cell: str,
                  output_steps: int = 1) -> KernelTerms:
    weights, units, macs = kernel_counts(hidden_size, num_layers, cell)
    return KernelTerms(
        alone=KERNEL_MAC_COST * weights + KERNEL_UNIT_COST * units + KERNEL_STEP_COST * num_layers,
        lanes=KERNEL_LANES_MAC_COST * macs + KERNEL_LANES_STEP_COST * num_layers,
        lane=KERNEL_LANE_MAC_COST * weights + KERNEL_LANE_UNIT_COST * units + KERNEL_LANE_STEP_COST,
        fixed=float(SETUP_COST * weights), sequence_length=sequence_length,
        windows=rollout_chunks(horizon, output_steps), output_steps=output_steps)


class KernelPlan(NamedTuple):
    """How core.kernel runs a rollout: in `width` vector lanes (0: by row), each step of the lanes (by row: each
    window of every row) `step_work` of work, `work` in all."""

    width: int
    step_work: float
    work: float


def _kernel_plan(rows: int, terms: KernelTerms) -> KernelPlan:
    """The plan of least work: by row, or in each width of lanes."""
    t, windows = terms.sequence_length, terms.windows
    best = KernelPlan(0, rows * t * terms.alone, rows * windows * t * terms.alone)
    for width in KERNEL_WIDTHS:
        step = terms.lanes + width * terms.lane
        work = lane_steps(rows, windows, t, terms.output_steps, width) * step
        if work < best.work:
            best = KernelPlan(width, step, work)
    return best._replace(work=best.work + terms.fixed)


def kernel_plan(rows: int, sequence_length: int, horizon: int, hidden_size: int, num_layers: int, cell: str,
                output_steps: int = 1) -> KernelPlan:
    """How core.kernel runs a rollout of `rows` rows: the cheapest way by the terms above."""
    return _kernel_plan(rows, _kernel_terms(sequence_length, horizon, hidden_size, num_layers, cell, output_steps))


def _work_terms(sequence_length: int, horizon: int, hidden_size: int, num_layers: int, cell: str,
                output_steps: int = 1) -> tuple[float, float]:
    """torch's path (core.wavefront): (work of one padded row, work whatever the rows) of a rollout; a multi-step
    head's rollout (core.forecast's chunks: one pass over the window per `output_steps` values) runs fewer passes."""
    weights = kernel_counts(hidden_size, num_layers, cell)[0]  # hidden-to-gate weights, all layers
    passes = rollout_chunks(horizon, output_steps)
    per_row = float(passes) * sequence_length * GATES[cell] * hidden_size * (hidden_size + ELEMENTWISE_COST)
    steps = sequence_length + horizon - 1 if output_steps == 1 else passes * sequence_length
    fixed = steps * (num_layers * STEP_OVERHEAD + WEIGHT_READ_COST * weights) + SETUP_COST * weights
    return num_layers * per_row, float(fixed)


def forecast_work(rows: int, sequence_length: int, horizon: int, hidden_size: int, num_layers: int, cell: str,
                  output_steps: int = 1) -> float:
    """A rollout's estimated work: its `horizon` windows each run the network over `sequence_length`
    steps from a zero state, side by side (core.wavefront), in sequence_length + horizon - 1 steps.

    layers x padded rows x horizon x sequence_length x gates x hidden x (hidden + ELEMENTWISE_COST)
    + steps x (layers x STEP_OVERHEAD + WEIGHT_READ_COST x weights) + SETUP_COST x weights, where weights
    = gates x hidden^2 x (2 layers - 1), the hidden-to-gate weights; where core.kernel runs the model,
    `_kernel_terms` per row alone, or per step of vector lanes and of each lane (`kernel_plan`).
    In train_cost's units; RNNCAST_MAX_FORECAST_WORK bounds every rollout the service runs. A model with
    `output_steps` k > 1 runs ceil(horizon / k) passes over the window instead of horizon window-steps.
    """
    shape = (sequence_length, horizon, hidden_size, num_layers, cell, output_steps)
    if kernel_serves(hidden_size, cell):
        return _kernel_plan(rows, _kernel_terms(*shape)).work
    per_row, fixed = _work_terms(*shape)
    return padded_rows(rows, hidden_size) * per_row + fixed


@functools.lru_cache(maxsize=1024)  # a pure function of its arguments, asked once per lane turn and model
def rows_within(limit: float, sequence_length: int, horizon: int, hidden_size: int, num_layers: int,
                cell: str, output_steps: int = 1) -> int:
    """The most rows one rollout may take within `limit` (`forecast_work`), at least 1."""
    shape = (sequence_length, horizon, hidden_size, num_layers, cell, output_steps)
    if kernel_serves(hidden_size, cell):
        # Bisection: the work grows with the rows (by row linearly, in lanes by steps), so the answer's work is
        # within the limit and one more row's is not.
        terms = _kernel_terms(*shape)
        window_steps = terms.windows * terms.sequence_length  # a row's
        cheapest = window_steps * min(terms.alone, terms.lane + terms.lanes / KERNEL_LANES)  # no count above hi fits
        lo, hi = 1, max(2, int((limit - terms.fixed) // cheapest) + 1)
        if _kernel_plan(lo, terms).work > limit:
            return 1
        while hi - lo > 1:  # work(lo) <= limit < work(hi)
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _kernel_plan(mid, terms).work <= limit else (lo, mid)
        return lo
    per_row, fixed = _work_terms(*shape)
    padded = int((limit - fixed) // per_row) // ROW_GROUP * ROW_GROUP  # padded_rows of the answer
    return max(1, padded - _spare_rows(hidden_size))


WORK_FORMULA = (f"rows x horizon x sequence_length x (each cell step's {KERNEL_MAC_COST:g} per weight read, "
                f"{KERNEL_UNIT_COST} per gate unit and {KERNEL_STEP_COST:,} per layer) where the fused kernel runs "
                f"the model, else padded rows x horizon x sequence_length x layers x gates x hidden x "
                f"(hidden + {ELEMENTWISE_COST}), plus each step's cost")


def params_work(params: dict[str, Any], horizon: int, rows: int = 1) -> float:
    """`forecast_work` of a model trained with a job's `params`."""
    return forecast_work(rows, params["sequence_length"], horizon, params["hidden_size"], params["num_layers"],
                         params["cell"], params.get("output_steps", 1))


def work_refusal(what: str, work: float, limit: float, advice: str) -> str | None:
    """A 422's detail when `work` exceeds `limit` (RNNCAST_MAX_FORECAST_WORK), else None."""
    if work <= limit:
        return None
    return (f"{what}'s estimated work ({work:.3g}: {WORK_FORMULA}) exceeds this server's limit "
            f"RNNCAST_MAX_FORECAST_WORK ({limit:.3g}); {advice}")
