"""A CSV upload read row by row: its value column, its time axis (common.timeaxis) and its missing values.

NumPy and the stdlib only (the API parses uploads with it). Every refusal is a
`SeriesError` whose message names the row or value at fault.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import numpy as np

from rnncast.common.defaults import MIN_POINTS, Missing
from rnncast.common.series import SeriesError
from rnncast.common.timeaxis import TimeAxis, infer_axis

# Time formats a CSV's first column may use besides ISO 8601 (tried in this order).
TIME_FORMATS = ("%b-%d-%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m", "%Y%m%d", "%d/%m/%Y")


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


# Cells read as a missing value (compared lower-cased).
NA_CELLS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "-", "?"})


@dataclass(frozen=True)
class ParsedCsv:
    values: np.ndarray
    column: str  # the header's name of the value column, or its 0-based index as text
    rows: int
    time_column: str | None  # the first column, when it held increasing times
    axis: TimeAxis | None = None  # the times' frequency and start, when there is a time column
    filled: int = 0  # missing values filled by the `missing` policy


HEADER_NAME_CHARS = 200  # a column name kept in a dataset's record at most


def parse_csv(text: str | TextIO, column: str | None, max_points: int, missing: Missing = "refuse") -> ParsedCsv:
    """The value column of a CSV document, read row by row (nothing but the values and times is kept, and
    reading stops at the first row past `max_points`).

    A header row is optional (a first row with no number past its first cell
    is one). `column` names the value column (a header name, or a 0-based
    index); it may be left out when the first data row holds exactly one
    numeric column besides the times. A first column of dates/times (or whole
    years under a header named `year`) is the time axis: it must increase at
    a regular frequency (common.timeaxis). Missing cells follow `missing`.
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
    times = _Times(header)
    index = _value_column(header, first, column, times)
    name = header[index] if header else str(index)
    if index == 0:
        times.column = None
    values: array[float] = array("d")
    gaps: list[int] = []
    for n, row in itertools.chain([first], rows):
        if len(values) == max_points:
            raise SeriesError(f"{max_points + 1} rows exceed this server's limit RNNCAST_MAX_DATASET_POINTS "
                              f"({max_points}): reading stopped at row {n}")
        if index >= len(row):
            raise SeriesError(f"row {n} has no column {name!r} (it has {len(row)} cells)")
        cell = row[index].strip()
        value = _number(cell)
        if value is None or math.isnan(value):
            if cell.lower() not in NA_CELLS:
                raise SeriesError(f"row {n}, column {name!r}: {cell[:50]!r} is not a number")
            if missing == "refuse":
                raise SeriesError(f"row {n}, column {name!r}: the value is missing ({cell[:50]!r}); upload "
                                  f"with missing=interpolate or missing=ffill to fill it")
            gaps.append(n)
            value = math.nan
        elif not math.isfinite(value):
            raise SeriesError(f"row {n}, column {name!r}: {cell[:50]!r} is not a finite number")
        times.feed(n, row[0] if row else "")
        values.append(value)
    if len(values) < MIN_POINTS:
        raise SeriesError(f"a series needs at least {MIN_POINTS} values, got {len(values)} row(s)")
    out = np.frombuffer(values, dtype=np.float64).copy()
    if gaps:
        out = fill_missing(out, missing, gaps)
    axis = infer_axis(times.times, times.rows) if times.column is not None else None
    return ParsedCsv(out, name, len(values), times.column, axis, len(gaps))


def fill_missing(values: np.ndarray, missing: Missing, rows: list[int]) -> np.ndarray:
    """The NaNs of `values` filled by the policy (`rows`: their CSV rows, for the refusal of a first one)."""
    known = np.flatnonzero(~np.isnan(values))
    if known.size == 0:
        raise SeriesError("every value is missing: nothing to fill from")
    if missing == "ffill":
        if known[0] > 0:
            raise SeriesError(f"row {rows[0]}: the first value is missing and ffill has no value before it")
        last = np.maximum.accumulate(np.where(np.isnan(values), 0, np.arange(values.shape[0])))
        return values[last]
    return np.interp(np.arange(values.shape[0]), known, values[known])


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


def _value_column(header: list[str] | None, first: tuple[int, list[str]], column: str | None,
                  times: _Times) -> int:
    n, row = first
    times.check(row[0] if row else "")
    if column is not None:
        if header is not None and column in header:
            return header.index(column)
        if column.isdigit() and int(column) < len(header or row):
            return int(column)
        known = f"; its columns are {header}" if header else " (the CSV has no header: give a 0-based index)"
        raise SeriesError(f"column {column!r} is not in the CSV{known}")
    skip = 1 if times.column is not None else 0
    numeric = [i for i, cell in enumerate(row) if i >= skip and (v := _number(cell)) is not None and math.isfinite(v)]
    numeric = numeric or [i for i, cell in enumerate(row) if i >= skip and cell.strip().lower() in NA_CELLS]
    if not numeric:
        raise SeriesError(f"row {n} holds no number: no column to take values from")
    if len(numeric) > 1:
        names = [header[i] if header and i < len(header) else str(i) for i in numeric]
        raise SeriesError(f"the CSV has several numeric columns {names}: name the one to forecast with "
                          f"column=<name or 0-based index>")
    return numeric[0]


def _year(text: str) -> datetime | None:
    """A whole year ('1700' or '1700.0') as January 1 of it."""
    number = _number(text)
    if number is None or not number.is_integer() or not 1 <= number <= 9999:
        return None
    return datetime(int(number), 1, 1)


class _Times:
    """The first column's times, checked to increase row by row; `column` is its name when it holds times.

    A column headed `year` (any case) of whole numbers holds years."""

    def __init__(self, header: list[str] | None) -> None:
        self.header = header
        self.column: str | None = None
        self.fmt: str | None = None
        self.times: list[datetime] = []
        self.rows: list[int] = []
        self.previous = ""

    def check(self, text: str) -> None:
        """The first data row decides whether the first column holds times."""
        cell = text.strip()
        if self.header and self.header[0].strip().lower() == "year" and _year(cell) is not None:
            self.fmt = "year"
        else:
            first = _time(cell, None)
            if first is None:
                return
            self.fmt = first[1]
        self.column = self.header[0] if self.header else "0"

    def feed(self, n: int, text: str) -> None:
        if self.column is None:
            return
        cell = text.strip()
        when = _year(cell) if self.fmt == "year" else (_time(cell, self.fmt) or (None, ""))[0]
        if when is None:
            raise SeriesError(f"row {n}: time {cell[:50]!r} does not parse like the rows before it")
        try:
            increasing = not self.times or when > self.times[-1]
        except TypeError:  # one with a time zone, one without
            raise SeriesError(f"row {n}: time {cell[:50]!r} mixes time zones with the rows before it") from None
        if not increasing:
            raise SeriesError(f"row {n}: time {cell[:50]!r} is not after the previous row's {self.previous!r}")
        self.times.append(when)
        self.rows.append(n)
        self.previous = cell[:50]
