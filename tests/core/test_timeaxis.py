"""A CSV's time axis (common.timeaxis through common.series.parse_csv): frequencies, gaps, missing values, columns;
and the backtest's baselines and scaled errors (core.backtest): seasonal naive with drift, MASE, MAPE."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from rnncast.common.csvseries import parse_csv
from rnncast.common.series import SeriesError
from rnncast.core.backtest import drift_forecasts, errors, seasonal_naive_forecasts, seasonal_scale


def csv_of(times: list[str], header: str = "when,v") -> str:
    return header + "\n" + "".join(f"{t},{i + 1}\n" for i, t in enumerate(times))


@pytest.mark.parametrize(("times", "frequency", "month_end", "next_one"), [
    (["2024-03-10 22:00", "2024-03-10 23:00", "2024-03-11 00:00", "2024-03-11 01:00"], "hourly", False,
     datetime(2024, 3, 11, 2)),
    (["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"], "daily", False, datetime(2024, 3, 2)),
    (["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"], "weekly", False, datetime(2024, 1, 29)),
    (["2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01"], "monthly", False, datetime(2024, 3, 1)),
    # month-end: months of 31, 29 (a leap February), 31 and 30 days
    (["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"], "monthly", True, datetime(2024, 5, 31)),
    (["2023-03-31", "2023-06-30", "2023-09-30", "2023-12-31"], "quarterly", True, datetime(2024, 3, 31)),
    (["2023-01-01", "2023-04-01", "2023-07-01", "2023-10-01"], "quarterly", False, datetime(2024, 1, 1)),
    (["2001-01-01", "2002-01-01", "2003-01-01", "2004-01-01"], "yearly", False, datetime(2005, 1, 1)),
    # the same day each month, the 15th
    (["2024-01-15", "2024-02-15", "2024-03-15", "2024-04-15"], "monthly", False, datetime(2024, 5, 15)),
])
def test_each_frequency_is_inferred_calendar_aware_and_goes_on_past_the_end(times, frequency, month_end, next_one):
    parsed = parse_csv(csv_of(times), None, 100)
    axis = parsed.axis
    assert axis is not None and (axis.frequency, axis.month_end) == (frequency, month_end)
    assert [axis.at(i).date() for i in range(4)] == [datetime.fromisoformat(t).date() for t in times]
    assert axis.at(4) == next_one
    np.testing.assert_array_equal(parsed.values, [1, 2, 3, 4])


def test_a_year_column_of_whole_numbers_is_a_yearly_axis():
    parsed = parse_csv('"YEAR","SUNACTIVITY"\n"1700.0","5.0"\n"1701.0","11.0"\n"1702.0","16.0"\n', None, 100)
    assert parsed.column == "SUNACTIVITY" and parsed.time_column == "YEAR"
    assert parsed.axis is not None and parsed.axis.frequency == "yearly" and parsed.axis.iso([0, 309]) == [
        "1700-01-01T00:00:00", "2009-01-01T00:00:00"]


@pytest.mark.parametrize(("times", "says"), [
    (["2024-01-01", "2024-02-01", "2024-03-01", "2024-05-01", "2024-06-01"],
     "rows 4 and 5 are 2 months apart where the series is monthly"),
    (["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"],
     "rows 4 and 5 are 2 days apart where the series is daily"),
    (["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 01:30", "2024-01-01 02:30"],
     "rows 3 and 4 are 0:30:00 apart where the series is hourly"),
    (["2024-01-31", "2024-02-29", "2024-03-30", "2024-04-30"], "rows 3 and 4 are 30 days, 0:00:00 apart"),
    (["2024-01-01", "2024-01-03", "2024-01-05", "2024-01-07"], "rows 2 and 3 are 2 days, 0:00:00 apart: a time "
     "column's rows must be hourly, daily, weekly, monthly, quarterly or yearly"),
])
def test_irregular_spacing_is_refused_naming_the_rows(times, says):
    with pytest.raises(SeriesError) as info:
        parse_csv(csv_of(times), None, 100)
    assert says in str(info.value)


MISSING = "d,v\n2024-01-01,1\n2024-01-02,\n2024-01-03,NA\n2024-01-04,7\n2024-01-05,n/a\n"


def test_a_missing_value_is_refused_by_default_naming_the_row():
    with pytest.raises(SeriesError, match="row 3, column 'v': the value is missing"):
        parse_csv(MISSING, None, 100)


@pytest.mark.parametrize(("missing", "values"), [
    ("interpolate", [1, 3, 5, 7, 7]),  # linearly between 1 and 7; the last one takes the nearest value
    ("ffill", [1, 1, 1, 7, 7]),
])
def test_missing_values_are_filled_on_request(missing, values):
    parsed = parse_csv(MISSING, None, 100, missing)
    np.testing.assert_array_equal(parsed.values, values)
    assert parsed.filled == 3 and parsed.axis is not None and parsed.axis.frequency == "daily"


def test_ffill_refuses_a_missing_first_value_and_text_is_not_missing():
    with pytest.raises(SeriesError, match="row 2: the first value is missing"):
        parse_csv("v\nNA\n2\n3\n", None, 100, "ffill")
    with pytest.raises(SeriesError, match="'oops' is not a number"):
        parse_csv("v\n1\noops\n3\n", None, 100, "interpolate")


def test_several_numeric_columns_need_a_name():
    text = "date,price,stock\n2024-01-01,1,9\n2024-01-02,2,8\n2024-01-03,3,7\n"
    with pytest.raises(SeriesError, match=r"several numeric columns \['price', 'stock'\]: name the one"):
        parse_csv(text, None, 100)
    assert parse_csv(text, "stock", 100).values.tolist() == [9, 8, 7]
    with pytest.raises(SeriesError, match=r"several numeric columns \['0', '1'\]"):
        parse_csv("1,10\n2,20\n3,30\n", None, 100)


# --- baselines and scaled errors -----------------------------------------------------------------


def test_drift_is_seasonal_naive_plus_the_mean_seasonal_change_per_season_ahead():
    season = 4
    t = np.arange(40, dtype=np.float64)
    values = 2.0 * t + 5 * np.sin(2 * math.pi * t / season + 0.3)  # a line and a season
    origins, horizon = np.array([20, 31]), 6
    got = drift_forecasts(values, origins, horizon, season)
    for row, k in zip(got, origins, strict=True):
        d = np.mean([values[u] - values[u - season] for u in range(season, k)])
        want = [values[k - 1 + h - season * math.ceil(h / season)] + math.ceil(h / season) * d
                for h in range(1, horizon + 1)]
        np.testing.assert_allclose(row, want, rtol=1e-12)
    truth = values[origins[:, None] + np.arange(horizon)]
    # On a linear trend plus a season the drift is exact; plain seasonal naive lags a season's climb.
    np.testing.assert_allclose(got, truth, atol=1e-9)
    plain = seasonal_naive_forecasts(values, origins, horizon, season)
    assert errors(truth, plain)["mae"] > 7 and errors(truth, got)["mae"] < 1e-9


def test_mase_and_mape_on_a_tiny_hand_checked_series():
    train = np.array([1.0, 3.0, 2.0, 6.0])  # season 2: |2 - 1| + |6 - 3| -> scale (1 + 3) / 2 = 2
    assert seasonal_scale(train, 2) == 2.0
    assert seasonal_scale(np.array([1.0, 1.0, 1.0]), 1) is None  # no change: no scale
    truth = np.array([[4.0, 5.0], [2.0, 8.0]])
    preds = np.array([[5.0, 5.0], [1.0, 4.0]])  # errors 1, 0, 1, 4: MAE 1.5
    out = errors(truth, preds, 2.0)
    assert out["mae"] == 1.5 and out["mase"] == 0.75
    assert out["mape"] == pytest.approx(100 * (1 / 4 + 0 + 1 / 2 + 4 / 8) / 4)  # 31.25 %
    assert errors(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]), 2.0)["mape"] is None  # a true 0
