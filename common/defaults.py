"""The hard ceilings, forecast and backtest defaults, and the cost model of jobs (rollouts: common.rollout_work).

Standard library only: the API (which must not load torch), the workers, `core` and the
client all import these. A training job's options and their defaults are declared in
`common.options`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

Cell = Literal["RNN", "LSTM", "GRU"]
CELLS: tuple[Cell, ...] = ("RNN", "LSTM", "GRU")
# Gate blocks per cell: the rows of torch.nn's recurrent weights per hidden unit (checkpoints, the rollout
# kernel), and the units of the cost model below.
GATES: dict[str, int] = {"RNN": 1, "LSTM": 4, "GRU": 3}
# Each cell by the mode torch.nn's module for it reports (RNNBase.mode): how code that is handed a module
# names its cell.
TORCH_MODES: dict[str, Cell] = {"RNN_TANH": "RNN", "LSTM": "LSTM", "GRU": "GRU"}

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
# The largest `observed` count an observe's `after` may state: the largest integer JSON carries exactly everywhere.
MAX_SESSION_OBSERVED = 2**53 - 1

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


# Training cost: what one forward/backward pass costs beyond its arithmetic (op dispatch per time step), in
# gate blocks' units (GATES).
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
