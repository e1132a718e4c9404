"""A user's own series: parsing, checks, generators, the train/test split and the train scaler.

NumPy only (no torch), on the shared floor: the API parses and checks uploads
with it, the store records their stats, core and the workers split, scale and
backtest with it. Every refusal is a `SeriesError` whose message names the
row or value at fault.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import numpy as np

from rnncast.common.defaults import MIN_POINTS

# Time formats a CSV's first column may use besides ISO 8601 (tried in this order).
TIME_FORMATS = ("%b-%d-%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m", "%Y%m%d", "%d/%m/%Y")


class SeriesError(ValueError):
    """A series (upload, generator or request) that cannot be used; the message says why and where."""


@dataclass(frozen=True)
class Scaler:
    """An affine scaling fitted on the train part: z = (y - mean) / std. `kind` says how the two were chosen:
    standard (the train part's mean and std), minmax (its min and max - min) or none (0 and 1)."""

    mean: float
    std: float
    kind: str = "standard"

    def forward(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.mean, "std": self.std}
        return out if self.kind == "standard" else out | {"kind": self.kind}


def check_values(values: Sequence[float] | np.ndarray, max_points: int) -> np.ndarray:
    """The values as float64, or SeriesError for too few, too many or non-finite ones."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise SeriesError("values must be a flat list of numbers")
    if arr.shape[0] < MIN_POINTS:
        raise SeriesError(f"a series needs at least {MIN_POINTS} values, got {arr.shape[0]}")
    if arr.shape[0] > max_points:
        raise SeriesError(
            f"{arr.shape[0]} values exceed this server's limit RNNCAST_MAX_DATASET_POINTS ({max_points})"
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise SeriesError(f"value {int(bad[0])} ({arr[bad[0]]}) is not a finite number")
    return arr


def moments(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation, computed on values scaled by their largest magnitude: finite for any
    finite values (near the float64 limit the plain formulas overflow)."""
    scale = float(np.max(np.abs(values))) or 1.0
    scaled = values / scale
    return float(scaled.mean()) * scale, float(scaled.std()) * scale


def stats(values: np.ndarray) -> dict[str, float]:
    mean, std = moments(values)
    return {"mean": mean, "std": std, "min": float(values.min()), "max": float(values.max())}


# --- CSV -----------------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _time(text: str, fmt: str | None) -> tuple[datetime, str] | None:
    """`text` as a time, in format `fmt` ('iso' or a strptime format), or found among the known ones."""
    text = text.strip()
    for f in ([fmt] if fmt else ["iso", *TIME_FORMATS]):
        try:
            when = datetime.fromisoformat(text) if f == "iso" else datetime.strptime(text, f)
        except ValueError:
            continue
        return when.replace(tzinfo=None) if when.tzinfo is None else when, f
    return None


@dataclass(frozen=True)
class ParsedCsv:
    values: np.ndarray
    column: str  # the header's name of the value column, or its 0-based index as text
    rows: int
    time_column: str | None  # the first column, when it held increasing times


HEADER_NAME_CHARS = 200  # a column name kept in a dataset's record at most


def parse_csv(text: str | TextIO, column: str | None, max_points: int) -> ParsedCsv:
    """The value column of a CSV document, read row by row (nothing but the values is kept, and reading
    stops at the first row past `max_points`).

    A header row is optional (a first row with no number past its first cell
    is one). `column` names the value column (a header name, or a 0-based
    index); by default it is the last column holding a number in the first
    data row. A first column of dates/times is allowed and must increase.
    Rows are numbered from 1 as a spreadsheet shows them.
    """
    stream = io.StringIO(text) if isinstance(text, str) else text
    try:
        sample = stream.read(4096)
        stream.seek(0)
    except UnicodeDecodeError:
        raise SeriesError("the CSV is not UTF-8 text") from None
    if sample.startswith("\ufeff"):
        stream.read(1)
    try:
        dialect: Any = csv.Sniffer().sniff(sample.removeprefix("\ufeff"), delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = _rows(stream, dialect)
    first = next(rows, None)
    if first is None:
        raise SeriesError("the CSV holds no rows")
    header: list[str] | None = None
    if all(_number(cell) is None for cell in first[1][1:] or first[1]):
        header = [cell.strip()[:HEADER_NAME_CHARS] for cell in first[1]]
        first = next(rows, None)
        if first is None:
            raise SeriesError("the CSV has a header row but no data rows")
    index = _value_column(header, first, column)
    name = header[index] if header else str(index)
    times = _Times(header) if index != 0 else None
    values: array[float] = array("d")
    for n, row in itertools.chain([first], rows):
        if len(values) == max_points:
            raise SeriesError(f"{max_points + 1} rows exceed this server's limit RNNCAST_MAX_DATASET_POINTS "
                              f"({max_points}): reading stopped at row {n}")
        if index >= len(row):
            raise SeriesError(f"row {n} has no column {name!r} (it has {len(row)} cells)")
        value = _number(row[index])
        if value is None:
            raise SeriesError(f"row {n}, column {name!r}: {row[index].strip()[:50]!r} is not a number")
        if not math.isfinite(value):
            raise SeriesError(f"row {n}, column {name!r}: {row[index].strip()[:50]!r} is not a finite number")
        if times is not None:
            times.feed(n, row[0] if row else "")
        values.append(value)
    if len(values) < MIN_POINTS:
        raise SeriesError(f"a series needs at least {MIN_POINTS} values, got {len(values)} row(s)")
    return ParsedCsv(np.frombuffer(values, dtype=np.float64).copy(), name, len(values),
                     times.column if times is not None else None)


def _rows(stream: TextIO, dialect: Any) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of each row with something in it; a malformed row is a SeriesError."""
    reader = csv.reader(stream, dialect)
    n = 0
    while True:
        n += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            raise SeriesError(f"row {n}: {exc}") from None
        except UnicodeDecodeError:
            raise SeriesError(f"the CSV is not UTF-8 text (row {n} is not)") from None
        if any(cell.strip() for cell in row):
            yield n, row


def _value_column(header: list[str] | None, first: tuple[int, list[str]], column: str | None) -> int:
    n, row = first
    if column is not None:
        if header is not None and column in header:
            return header.index(column)
        if column.isdigit() and int(column) < len(header or row):
            return int(column)
        known = f"; its columns are {header}" if header else " (the CSV has no header: give a 0-based index)"
        raise SeriesError(f"column {column!r} is not in the CSV{known}")
    numeric = [i for i, cell in enumerate(row) if (v := _number(cell)) is not None and math.isfinite(v)]
    if not numeric:
        raise SeriesError(f"row {n} holds no number: no column to take values from")
    return numeric[-1]


class _Times:
    """The first column's times, checked to increase row by row; `column` is its name when it holds times."""

    def __init__(self, header: list[str] | None) -> None:
        self.header = header
        self.column: str | None = None
        self.fmt: str | None = None
        self.previous: datetime | None = None
        self.previous_text = ""
        self.checked = False

    def feed(self, n: int, text: str) -> None:
        cell = text.strip()
        if not self.checked:  # the first data row decides whether the column holds times
            self.checked = True
            first = _time(cell, None)
            if first is not None:
                self.previous, self.fmt, self.previous_text = first[0], first[1], cell
                self.column = self.header[0] if self.header else "0"
            return
        if self.column is None:
            return
        parsed = _time(cell, self.fmt)
        if parsed is None:
            raise SeriesError(f"row {n}: time {cell[:50]!r} does not parse like the rows before it")
        try:
            increasing = self.previous is None or parsed[0] > self.previous
        except TypeError:  # one with a time zone, one without
            raise SeriesError(f"row {n}: time {cell[:50]!r} mixes time zones with the rows before it") from None
        if not increasing:
            raise SeriesError(f"row {n}: time {cell[:50]!r} is not after the previous row's {self.previous_text!r}")
        self.previous, self.previous_text = parsed[0], cell


# --- generators ----------------------------------------------------------------------------------


def generate(spec: dict[str, Any]) -> np.ndarray:
    """A synthetic series from a validated generator spec (see service.schemas' generators)."""
    kind, points, step = spec["kind"], int(spec["points"]), float(spec.get("step", 1.0))
    rng = np.random.default_rng(spec.get("seed", 0))
    t = np.arange(points, dtype=np.float64) * step
    if kind == "sine":
        values = spec["amplitude"] * np.sin(2 * math.pi * t / spec["period"] + spec["phase"])
    elif kind == "sines":
        values = np.zeros(points)
        for c in spec["components"]:
            values += c["amplitude"] * np.sin(2 * math.pi * t / c["period"] + c["phase"])
    elif kind == "damped_sine":
        values = spec["amplitude"] * np.exp(-spec["decay"] * t) * np.sin(2 * math.pi * t / spec["period"]
                                                                          + spec["phase"])
    elif kind == "random_walk":
        values = spec["start"] + np.cumsum(rng.normal(spec["drift"], spec["step_std"], points))
    else:
        raise SeriesError(f"unknown generator kind {kind!r}")
    noise = float(spec.get("noise_std", 0.0))
    if noise > 0:
        values = values + rng.normal(0.0, noise, points)
    return np.asarray(values, dtype=np.float64)


# --- training split, scaling ---------------------------------------------------------------------


def split_point(length: int, sequence_length: int, train_fraction: float, output_steps: int = 1, lag: int = 0) -> int:
    """The position of the first test target: the values before it are the train part.

    Windows are cut as for the sine (core.data.windows), over the series differenced at `lag` (0: as it
    is; it is `lag` values shorter), each followed by `output_steps` targets; the first `train_fraction`
    of them train, and the test windows begin where the train windows' targets end.
    """
    windows = length - lag - sequence_length - output_steps + 1
    n_train = int(windows * train_fraction)
    if windows < 2 or n_train < 1 or n_train + output_steps - 1 >= windows:
        steps = f", output_steps {output_steps}" if output_steps > 1 else ""
        diff = f" differenced at lag {lag}" if lag else ""
        raise SeriesError(
            f"a series of {length} values{diff} with sequence_length {sequence_length}{steps} and train_fraction "
            f"{train_fraction} leaves no train or no test window"
        )
    return n_train + sequence_length + output_steps - 1 + lag


def train_scaler(values: np.ndarray, sequence_length: int, train_fraction: float) -> Scaler:
    """Mean and std of the train part (a constant train part scales by 1)."""
    return fit_scaler(values[: split_point(values.shape[0], sequence_length, train_fraction)], "standard")


def fit_scaler(train_part: np.ndarray, scaling: str) -> Scaler:
    """The scaling `scaling` names, fitted on `train_part`: standard (mean and std), minmax (min and range)
    or none (0 and 1). A constant train part scales by 1."""
    if scaling == "none":
        return Scaler(0.0, 1.0, "none")
    if scaling == "minmax":
        low, high = float(train_part.min()), float(train_part.max())
        width = high - low
        return Scaler(low, width if width > 0 and math.isfinite(width) else 1.0, "minmax")
    if scaling != "standard":
        raise ValueError(f"scaling ({scaling!r}) must be one of ['standard', 'minmax', 'none']")
    mean, std = moments(train_part)
    return Scaler(mean, std if std > 0 and math.isfinite(std) else 1.0)
