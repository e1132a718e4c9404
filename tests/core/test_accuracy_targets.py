"""A comparison's time to the tutorial's accuracy (common.accuracy): the targets are stated to DIGITS significant
digits, and a mean is judged at those digits."""

from __future__ import annotations

from rnncast.common.accuracy import TUTORIAL_ACCURACY, time_to_accuracy


def _run(cell: str, test: float, forecast: float) -> dict[str, object]:
    return {"cell": cell, "status": "succeeded", "epoch": 500, "final_test_loss": test, "forecast_mse": forecast,
            "train_seconds": 1.0, "cpu_seconds": 1.0}


def test_a_mean_equal_to_the_target_at_its_digits_has_reached_it_and_one_above_has_not():
    test, forecast = TUTORIAL_ACCURACY["RNN"]
    # The tutorial recipe's own RNN: its means equal the targets to the stated digits, a hair above in full.
    hair = time_to_accuracy([_run("RNN", test * 1.0004, forecast * 1.0004)], ["RNN"])["RNN"]
    assert hair["reached"] is True
    above = time_to_accuracy([_run("RNN", test * 1.01, forecast)], ["RNN"])["RNN"]
    assert above["reached"] is False
    below = time_to_accuracy([_run("RNN", test, forecast * 0.5)], ["RNN"])["RNN"]
    assert below["reached"] is True
