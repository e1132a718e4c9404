"""A series' time axis: the frequency of its timestamps, inferred and checked, and the timestamp of any position.

Calendar-aware (stdlib datetime, no pandas): a monthly series steps one
calendar month at a time, on the same day of the month or on each month's
last day (month-end), so January 31, February 29, March 31 is monthly.
Hourly, daily and weekly are fixed durations. Any other spacing, or one row
off the frequency, is a `SeriesError` naming the rows.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from rnncast.common.series import SeriesError

Frequency = Literal["hourly", "daily", "weekly", "monthly", "quarterly", "yearly"]
FIXED: dict[str, timedelta] = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(days=7)}
MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "yearly": 12}
UNITS = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter",
         "yearly": "year"}


def _month_end(when: datetime) -> bool:
    return when.day == calendar.monthrange(when.year, when.month)[1]


def add_months(when: datetime, months: int, month_end: bool) -> datetime:
    """`when` moved by whole calendar months: on the same day (the month's last when it has fewer days), or
    on the month's last day when `month_end`."""
    index = when.year * 12 + when.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return when.replace(year=year, month=month + 1, day=last if month_end else min(when.day, last))


def _months_apart(a: datetime, b: datetime) -> int | None:
    """Whole calendar months from `a` to `b` (same day of month and time, or both month ends), else None."""
    if a.time() != b.time() or a.tzinfo != b.tzinfo:
        return None
    months = (b.year - a.year) * 12 + b.month - a.month
    if b.day == a.day or (_month_end(a) and _month_end(b)):
        return months
    return None


def _kind(a: datetime, b: datetime) -> str | None:
    """The named frequency one step from `a` to `b` is, if any."""
    gap = b - a
    for name, size in FIXED.items():
        if gap == size:
            return name
    months = _months_apart(a, b)
    return next((name for name, n in MONTHS.items() if n == months), None)


def _describe(a: datetime, b: datetime, frequency: str) -> str:
    """How far apart two times are ("2 months apart"), in the frequency's unit where it measures them whole."""
    n: float | None
    if frequency in MONTHS:
        months = _months_apart(a, b)
        n = months / MONTHS[frequency] if months is not None else None
    else:
        n = (b - a) / FIXED[frequency]
    if n is not None and float(n).is_integer():
        k = int(n)
        return f"{k} {UNITS[frequency]}{'s' if k != 1 else ''} apart"
    return f"{b - a} apart"


@dataclass(frozen=True)
class TimeAxis:
    """A regular axis: position p is at `start` plus p steps of `frequency`."""

    start: datetime
    frequency: Frequency
    month_end: bool = False  # monthly, quarterly, yearly on each month's last day

    def at(self, position: int) -> datetime:
        if self.frequency in FIXED:
            return self.start + position * FIXED[self.frequency]
        return add_months(self.start, position * MONTHS[self.frequency], self.month_end)

    def after(self, length: int, n: int) -> list[datetime]:
        """The `n` timestamps that continue an axis of `length` positions (positions length..length+n-1), on its
        frequency (a month-end axis stays on month ends)."""
        return [self.at(p) for p in range(length, length + n)]

    def position(self, when: datetime) -> int | None:
        """The position `when` stands at on this axis (negative before its start), None when it is off it."""
        if self.frequency in FIXED:
            steps = (when - self.start) / FIXED[self.frequency]
            return int(steps) if float(steps).is_integer() else None
        months = (when.year - self.start.year) * 12 + when.month - self.start.month
        n, rest = divmod(months, MONTHS[self.frequency])
        return n if not rest and self.at(n) == when else None

    def iso(self, positions: range | list[int]) -> list[str]:
        return [self.at(p).isoformat() for p in positions]

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "frequency": self.frequency, "month_end": self.month_end}

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> TimeAxis:
        return cls(datetime.fromisoformat(str(raw["start"])), raw["frequency"],  # type: ignore[arg-type]
                   bool(raw.get("month_end", False)))


def infer_axis(times: list[datetime], rows: list[int]) -> TimeAxis:
    """The axis of increasing `times` (their CSV row numbers in `rows`): the frequency most of the steps take,
    then every row checked against it. SeriesError names the first two rows off it."""
    every = max(1, len(times) // 1000)  # the frequency from at most ~1000 steps spread over the series
    kinds = Counter(_kind(times[i], times[i + 1]) for i in range(0, len(times) - 1, every))
    named = [(count, kind) for kind, count in kinds.items() if kind is not None]
    if not named:
        gap = times[1] - times[0]
        raise SeriesError(f"rows {rows[0]} and {rows[1]} are {gap} apart: a time column's rows must be hourly, daily, "
                          f"weekly, monthly, quarterly or yearly (or leave the time column out of the CSV)")
    frequency: Frequency = max(named)[1]  # type: ignore[assignment]
    month_end = frequency in MONTHS and _month_end(times[0]) and all(_month_end(t) for t in times[:3])
    axis = TimeAxis(times[0], frequency, month_end)
    size = FIXED.get(frequency)
    for i, when in enumerate(times):
        if (when - times[i - 1] != size) if size is not None and i else when != axis.at(i):
            j = max(i - 1, 0)
            raise SeriesError(f"rows {rows[j]} and {rows[i]} are {_describe(times[j], when, frequency)} "
                              f"where the series is {frequency}: a time axis must be regular (fill the gap, or "
                              f"leave the time column out)")
    return axis
