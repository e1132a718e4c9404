"""Known-future covariates from a dataset's time axis: the features a job's `covariates` option names.

A periodic feature (month, day of week, hour, day of year, week of year) is the sine and cosine of its phase
in the period, so December sits next to January; `trend` is the position over the train part's length (0 at
the series' start, 1 where the train part ends). Any position has them, past or future: the axis continues by
its frequency (`TimeAxis.at`). The model reads, at each window position, the value there and the features of
the timestamp after it (the value it predicts next): see core.transform.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np

from rnncast.common.series import SeriesError
from rnncast.common.timeaxis import TimeAxis


def _day_of_year(t: datetime) -> float:
    days = 366 if (t.year % 4 == 0 and t.year % 100 != 0) or t.year % 400 == 0 else 365
    return (t.timetuple().tm_yday - 1) / days


# Each periodic feature: its phase in [0, 1) at a timestamp.
PHASES: dict[str, Callable[[datetime], float]] = {
    "month": lambda t: (t.month - 1) / 12,
    "day_of_week": lambda t: t.weekday() / 7,
    "hour": lambda t: (t.hour + t.minute / 60) / 24,
    "day_of_year": _day_of_year,
    "week_of_year": lambda t: (t.isocalendar()[1] - 1) / 52,
}
TREND = "trend"
# "calendar": the periodic features that vary from one step to the next at each frequency.
CALENDAR: dict[str, tuple[str, ...]] = {
    "hourly": ("hour", "day_of_week"), "daily": ("day_of_week", "day_of_year"), "weekly": ("week_of_year",),
    "monthly": ("month",), "quarterly": ("month",), "yearly": (),
}


def resolve(choice: str, frequency: str | None) -> tuple[str, ...]:
    """The features a `covariates` choice names for a series of `frequency` (None: no time axis); () for none.

    Raises SeriesError (a 422) when the series has no time axis or the choice gives it no feature."""
    if choice == "none":
        return ()
    if frequency is None:
        raise SeriesError(f"covariates ({choice!r}) come from the dataset's timestamps, and this dataset has "
                          f"none: upload it with a date/time column (or leave covariates out)")
    names: tuple[str, ...] = ()
    for part in choice.split("+"):
        names += CALENDAR[frequency] if part == "calendar" else (part,)
    if not names:
        raise SeriesError(f"covariates ({choice!r}): a {frequency} series has no calendar feature that varies "
                          f"from step to step; use 'trend' (or leave covariates out)")
    return names


def width(names: tuple[str, ...]) -> int:
    """Features per position: two per periodic name (sin, cos), one for the trend."""
    return sum(1 if n == TREND else 2 for n in names)


def features(axis: TimeAxis, positions: np.ndarray, names: tuple[str, ...], trend_scale: float) -> np.ndarray:
    """The features of `positions` on `axis` (any integers, past the series' end too): (len, width(names))."""
    positions = np.asarray(positions, dtype=np.int64)
    times = [axis.at(int(p)) for p in positions] if any(n != TREND for n in names) else []
    columns = []
    for name in names:
        if name == TREND:
            columns.append(positions / trend_scale)
            continue
        angle = 2 * np.pi * np.array([PHASES[name](t) for t in times], dtype=np.float64)
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=-1) if columns else np.zeros((positions.shape[0], 0))
