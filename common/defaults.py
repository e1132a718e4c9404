"""The hard ceilings, forecast and backtest defaults, and the cost model of jobs and rollouts.

Standard library only: the API (which must not load torch), the workers, `core` and the
client all import these. A training job's options and their defaults are declared in
`common.options`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

Cell = Literal["RNN", "LSTM", "GRU"]
CELLS: tuple[Cell, ...] = ("RNN", "LSTM", "GRU")

# The hard ceilings: no server may be configured past them (Settings' limits are bounded by them; a
# running server's own limits, e.g. RNNCAST_MAX_EPOCHS, are checked by service.limits).
MAX_EPOCHS = 10_000_000
MAX_POINTS = 1_000_000
MAX_HIDDEN_SIZE = 1024
MAX_NUM_LAYERS = 8
MAX_SEQUENCE_LENGTH = 100_000
MAX_OUTPUT_STEPS = 10_000  # values a model's head emits at once
MAX_SEASON = 10_000  # a seasonal difference's or a backtest's season
MAX_BATCH_SIZE = 1_000_000
MAX_SEED = 2**32 - 1
MAX_SEEDS = 1_000  # seeds in one comparison
MAX_CONTEXT = 1_000_000  # values in one forecast's context
MAX_START = 1e6  # |t| of a sine forecast's first prediction
MIN_POINTS = 3  # a series needs a train window, a test window and a target
# Names and tags of jobs, models, comparisons, searches and datasets (a tag may read "key=value").
MAX_NAME_CHARS = 200
MAX_TAGS = 16
MAX_TAG_CHARS = 64
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:=/+-]*$"
# Ceiling on RNNCAST_MAX_FILTER_SCAN: the ids a list filtered by two or more sets examines for one page (and count).
MAX_FILTER_SCAN = 100_000
# What a CSV upload does with a blank or NA cell in its value column (common.csvseries.fill_missing).
Missing = Literal["refuse", "interpolate", "ffill"]
MISSING_HELP = ("a blank or NA cell in the value column: 'refuse' (the default: a 422 naming the row), "
                "'interpolate' (linearly between the values either side; at either end, the nearest value) or "
                "'ffill' (the last value before it; a missing first value is refused)")

STACKED_DROPOUT = 0.05  # between stacked layers, when a job leaves dropout out

# Rows per forward/backward pass when a job leaves `micro_batch_size` out. The
# gated cells keep several gate activations per unit and step for their
# backward pass, so passes of 250 rows bound their memory; an RNN keeps one
# activation per unit and step and trains whole batches (0).
MICRO_BATCH_SIZE: dict[str, int] = {"LSTM": 250, "GRU": 250, "RNN": 0}


# Forecasts.
FORECAST_START = 123.0
FORECAST_HORIZON = 100
MAX_HORIZON = 1_000_000
# An ONNX export's parity check: the step graph's rollout of the model's default forecast (FORECAST_HORIZON
# steps, fewer where the window is long: at most this many cell steps in all) must equal the service's within
# this much of the forecast's scale (max(1, max |y|)): float32 rounding, compounded over the rollout.
EXPORT_PARITY_STEPS = 20_000
EXPORT_PARITY_RTOL = 1e-4

# Streaming sessions (common.sessions): how long one lives after its last observe, unless it asks otherwise.
SESSION_TTL_S = 900
MAX_SESSION_TTL_S = 30 * 86_400

# List routes' pages: records answered by default and at most, and the deepest offset. Comparisons and searches
# answer computed views (their runs and summaries), so their pages are smaller.
LIST_PAGE, MAX_LIST_PAGE = 50, 1000
VIEW_PAGE, MAX_VIEW_PAGE = 20, 200
MAX_LIST_OFFSET = 10_000_000

# Datasets and backtests.
MAX_DATASET_VALUES_PAGE = 100_000  # values one GET .../values returns at most
MAX_BACKTEST_ORIGINS = 1000
BACKTEST_HORIZON = 10
BACKTEST_ORIGINS = 20
# A backtest's model forecasts may do this many forecast batches' work
# (RNNCAST_MAX_FORECAST_WORK each) in all.
BACKTEST_BATCHES = 50

# Conformal intervals (core.conformal): a model calibrates on at most this many origins of the first half of
# its test part, for at most this many steps; with fewer origins than the minimum it has no calibration.
CALIBRATION_ORIGINS = 200
CALIBRATION_STEPS = 24
MIN_CALIBRATION_ORIGINS = 9  # a level of 0.9 needs 9
MAX_INTERVAL_LEVELS = 4  # levels in one request
BACKTEST_LEVELS = (0.8, 0.95)  # a backtest's coverage, unless it names its own

# Relative cost of an epoch per cell on a CPU; orders a comparison's runs so
# that the slowest start first.
CELL_COST: dict[str, float] = {"GRU": 3.7, "LSTM": 3.0, "RNN": 1.0}


# Training cost: gate blocks per recurrent cell, and what one forward/backward
# pass costs beyond its arithmetic (op dispatch per time step), in the same units.
GATES: dict[str, int] = {"RNN": 1, "LSTM": 4, "GRU": 3}
PASS_OVERHEAD = 20_000


def _windows(params: dict[str, Any]) -> tuple[int, int, int]:
    """(points, windows, training windows) of a job: a dataset's length plays the sine's points."""
    data = params.get("data") or {}
    points = int(data["points"] if "points" in data else data["length"])
    windows = max(points - params["sequence_length"], 1)
    return points, windows, max(int(windows * float(data["train_fraction"])), 1)


def train_cost(params: dict[str, Any]) -> float:
    """A job's estimated work: epochs x steps x layers x (windows x gates x hidden^2 + passes x overhead).

    `params` are a job's effective params (micro_batch_size filled in). The
    units are arbitrary but fixed: RNNCAST_MAX_TRAIN_COST is compared with it.
    """
    seq, hidden, layers = params["sequence_length"], params["hidden_size"], params["num_layers"]
    _, windows, n_train = _windows(params)
    batch = min(params["batch_size"], n_train)
    micro = params.get("micro_batch_size") or batch
    passes = math.ceil(n_train / batch) * math.ceil(batch / min(micro, batch))
    per_step = windows * GATES[params["cell"]] * hidden * hidden + passes * PASS_OVERHEAD
    # A fine-tuning epoch runs `horizon` forward and backward passes over the windows.
    finetune = params.get("rollout_finetune") or {}
    epochs = float(params["epochs"]) + float(finetune.get("epochs", 0)) * float(finetune.get("horizon", 0))
    return epochs * seq * layers * per_step


JSON_NUMBER_BYTES = 32  # "-1.2345678901234567e-308, " and then some
FORECAST_BODY_SLACK = 16 * 1024  # a forecast body's other fields


def forecast_body_bytes(max_context: int) -> int:
    """The largest body a forecast request within RNNCAST_MAX_CONTEXT can need (larger ones are 413)."""
    return max_context * JSON_NUMBER_BYTES + FORECAST_BODY_SLACK


# Training memory (bytes). Passes: evaluation rows per pass at most, and within a byte budget;
# rows per forward/backward pass of the rollout loss (it keeps horizon x T steps of activations).
EVAL_BATCH = 8192
EVAL_PASS_BYTES = 512 * 1024**2
ROLLOUT_PASS = 128
FLOAT_BYTES = 4
# What autograd keeps per row, layer and time step: the gates' pre-activations and outputs, h, c and
# the input (gates + 3 vectors of hidden_size), tripled for the backward pass's own buffers (measured:
# bench/hostile.py prints the estimate beside a real pass's peak).
SAVED_VECTORS_EXTRA, BACKWARD_FACTOR = 3, 3
# Per parameter: the weight, its gradient, Adam's two moments, the best epoch's copy.
PARAMETER_COPIES = 5


def parameters(cell: str, hidden_size: int, num_layers: int) -> int:
    """Parameters of a model: each layer's input and recurrent weights and biases, then the head."""
    gates = GATES[cell] * hidden_size
    first = gates * (1 + hidden_size + 2)
    return first + (num_layers - 1) * gates * (2 * hidden_size + 2) + hidden_size + 1


def model_bytes(params: dict[str, Any]) -> int:
    """About what a job's model file will take: its weights (float32), a dataset model's series (float64)."""
    series = int((params.get("data") or {}).get("length", 0)) * 8
    return parameters(params["cell"], params["hidden_size"], params["num_layers"]) * FLOAT_BYTES + series + 8192


def eval_rows(sequence_length: int, hidden_size: int) -> int:
    """Rows per evaluation pass: at most EVAL_BATCH, and within EVAL_PASS_BYTES of layer outputs."""
    per_row = sequence_length * hidden_size * FLOAT_BYTES * 3  # a layer's input and output, and a step's gates
    return max(1, min(EVAL_BATCH, EVAL_PASS_BYTES // per_row))


def train_memory(params: dict[str, Any]) -> float:
    """A job's estimated peak memory in bytes: its parameters (with gradients, Adam's moments and a best
    copy), its series, and the largest pass it runs: a training pass (micro-batch rows x sequence_length x
    layers of saved activations, and with `loss_on` all its every-step outputs and targets: output_steps
    values per row and step), an evaluation pass, or a pass of rollout fine-tuning (horizon x sequence_length
    steps a row)."""
    seq, hidden, layers, cell = params["sequence_length"], params["hidden_size"], params["num_layers"], params["cell"]
    points, _, n_train = _windows(params)
    rows = min(params.get("micro_batch_size") or params["batch_size"], params["batch_size"], n_train)
    per_step = (GATES[cell] + SAVED_VECTORS_EXTRA) * hidden * FLOAT_BYTES * BACKWARD_FACTOR  # one row, layer, step
    train_pass = rows * seq * layers * per_step
    if params.get("loss_on") == "all":  # the head at every step: outputs, targets and their gradients
        train_pass += rows * seq * (hidden + int(params.get("output_steps", 1)) * 3) * FLOAT_BYTES * BACKWARD_FACTOR
    eval_pass = eval_rows(seq, hidden) * seq * hidden * FLOAT_BYTES * 3
    finetune = params.get("rollout_finetune") or {}
    rollout_pass = ROLLOUT_PASS * int(finetune.get("horizon", 0)) * seq * layers * per_step if finetune else 0
    weights = parameters(cell, hidden, layers) * FLOAT_BYTES * PARAMETER_COPIES
    series = points * 8 * 3  # the values, their float32 copy, the standardised copy
    return float(weights + series + max(train_pass, eval_pass, rollout_pass))


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
# Rows run in blocks (core.kernel_loops.windows_by_block: one row per vector lane) of KERNEL_MIN_BLOCK to
# KERNEL_LANES rows, a multiple of KERNEL_VECTOR (a 512-bit vector's float32s: no row in a scalar tail; a block
# of 64 keeps its state in L1). Narrower blocks cost more per row than rows alone (bench/rollout_kernel.py prints
# each width's cost: a block of 32 takes the CPU of ~23 rows alone). Rows that fill KERNEL_PAD_SHARE of a vector
# (or of a block of KERNEL_MIN_BLOCK) run padded with zero rows to it; fewer, left over, run one at a time. A
# block's cell step of a layer costs KERNEL_BLOCK_STEP_COST, and each of its lanes KERNEL_LANE_MAC_COST per
# multiply-add and KERNEL_LANE_UNIT_COST per gate unit (fitted as the row kernel's terms were, in its units:
# cells, hidden 1..128, 1 and 3 layers, blocks of 32 and 64; within 0.58-1.2 of measured time).
KERNEL_LANES, KERNEL_VECTOR, KERNEL_MIN_BLOCK, KERNEL_PAD_SHARE = 64, 16, 32, 0.75
KERNEL_BLOCK_STEP_COST = 2_100
KERNEL_LANE_MAC_COST = 5.0
KERNEL_LANE_UNIT_COST = 66


def kernel_blocks(rows: int) -> list[tuple[int, int, int]]:
    """(first row, end row, block width) of each block the kernel runs `rows` rows in; the rows after the last
    run one at a time. A lane's arithmetic is its row's alone, so padding rows change no real row's bits."""
    ranges, r0 = [], 0
    while rows - r0 >= KERNEL_MIN_BLOCK * KERNEL_PAD_SHARE:
        rest = rows - r0
        width = rest // KERNEL_VECTOR * KERNEL_VECTOR
        if rest - width >= KERNEL_VECTOR * KERNEL_PAD_SHARE:
            width += KERNEL_VECTOR
        width = min(KERNEL_LANES, max(KERNEL_MIN_BLOCK, width))
        ranges.append((r0, min(rows, r0 + width), width))
        r0 += width
    return ranges


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


def _kernel_terms(sequence_length: int, horizon: int, hidden_size: int, num_layers: int, cell: str,
                  output_steps: int = 1) -> tuple[float, float, float]:
    """core.kernel's (work of a row alone, of a lane of a block, of a block whatever its width), per rollout."""
    weights = GATES[cell] * hidden_size * hidden_size * (2 * num_layers - 1)
    units = GATES[cell] * hidden_size * num_layers
    steps = float(rollout_chunks(horizon, output_steps)) * sequence_length  # per row: each window's steps
    alone = KERNEL_MAC_COST * weights + KERNEL_UNIT_COST * units + KERNEL_STEP_COST * num_layers
    lane = KERNEL_LANE_MAC_COST * weights + KERNEL_LANE_UNIT_COST * units
    return steps * alone, steps * lane, steps * KERNEL_BLOCK_STEP_COST * num_layers


def _work_terms(sequence_length: int, horizon: int, hidden_size: int, num_layers: int, cell: str,
                output_steps: int = 1) -> tuple[float, float]:
    """(work of one padded row, work whatever the rows) of a rollout; a multi-step head's rollout
    (core.forecast's chunks: one pass over the window per `output_steps` values) runs fewer passes.
    For core.kernel's rollouts, the work of a row alone (the most a row costs there)."""
    weights = GATES[cell] * hidden_size * hidden_size * (2 * num_layers - 1)  # hidden-to-gate weights, all layers
    passes = rollout_chunks(horizon, output_steps)
    if kernel_serves(hidden_size, cell):  # core.kernel: per row, window and step; rows are not padded
        alone, _, _ = _kernel_terms(sequence_length, horizon, hidden_size, num_layers, cell, output_steps)
        return alone, float(SETUP_COST * weights)
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
    = gates x hidden^2 x (2 layers - 1), the hidden-to-gate weights.
    In train_cost's units; RNNCAST_MAX_FORECAST_WORK bounds every rollout the service runs. A model with
    `output_steps` k > 1 runs ceil(horizon / k) passes over the window instead of horizon window-steps.
    """
    per_row, fixed = _work_terms(sequence_length, horizon, hidden_size, num_layers, cell, output_steps)
    if kernel_serves(hidden_size, cell):  # its blocks of rows (kernel_blocks), and the rows after them alone
        _, lane, block = _kernel_terms(sequence_length, horizon, hidden_size, num_layers, cell, output_steps)
        full = max(0, rows // KERNEL_LANES - 1)  # kernel_blocks' first blocks, all KERNEL_LANES wide
        tail = kernel_blocks(rows - full * KERNEL_LANES)
        alone = rows - full * KERNEL_LANES - (tail[-1][1] if tail else 0)
        widths = full * KERNEL_LANES + sum(width for _, _, width in tail)
        return (full + len(tail)) * block + widths * lane + alone * per_row + fixed
    return padded_rows(rows, hidden_size) * per_row + fixed


def rows_within(limit: float, sequence_length: int, horizon: int, hidden_size: int, num_layers: int,
                cell: str, output_steps: int = 1) -> int:
    """The most rows one rollout may take within `limit` (`forecast_work`), at least 1."""
    per_row, fixed = _work_terms(sequence_length, horizon, hidden_size, num_layers, cell, output_steps)
    if kernel_serves(hidden_size, cell):
        # Bisection: rows that fill a padded block may cost less than one row fewer run alone, so the work is
        # not quite monotone in rows; the answer's work is within the limit and one more row's is not.
        shape = (sequence_length, horizon, hidden_size, num_layers, cell, output_steps)
        _, lane, block = _kernel_terms(*shape)
        cheapest = min(per_row, lane + block / KERNEL_LANES)  # a row's least work: no count above hi fits
        lo, hi = 1, max(2, int((limit - fixed) // cheapest) + 1)
        if forecast_work(lo, *shape) > limit:
            return 1
        while hi - lo > 1:  # forecast_work(lo) <= limit < forecast_work(hi)
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if forecast_work(mid, *shape) <= limit else (lo, mid)
        return lo
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
