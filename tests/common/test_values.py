import math

import orjson
import pytest

from rnncast.common.values import finite_list
from rnncast.core.forecast import Forecast
from rnncast.worker.predict import forecast_payload


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_forecast_with_values_json_cannot_carry_answers_them_as_null(bad):
    fc = Forecast(x=[0.0, 1.0, 2.0], y=[0.5, bad, -0.25])
    bands = [{"level": 0.9, "lower": [0.0, bad, -1.0], "upper": [1.0, 2.0, bad]}]
    payload = forecast_payload("a" * 32, 3, fc, bands=bands, calibrated_steps=3)
    assert payload["y"] == [0.5, None, -0.25]
    assert payload["intervals"] == [{"level": 0.9, "lower": [0.0, None, -1.0], "upper": [1.0, 2.0, None]}]
    assert orjson.loads(orjson.dumps(payload))["y"] == [0.5, None, -0.25]


def test_finite_values_are_kept_as_they_are_even_where_their_sum_overflows():
    values = [0.5, -0.25, 3.0]
    assert finite_list(values) is values
    huge = [1.7e308, 1.7e308, -1.0]  # each finite, their sum not: each is looked at, and kept
    assert finite_list(huge) == huge
    assert finite_list([]) == []
