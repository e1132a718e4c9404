"""The search's space, candidates and inner split (common.search): pure functions, no stack."""

from __future__ import annotations

import pytest

from rnncast.common.search import SPACE, candidates, grid, inner_length, outer_split, refit_params
from rnncast.common.series import SeriesError, split_point


def test_the_grid_is_the_space_with_the_season_resolved():
    configs = grid(12)
    assert {c["sequence_length"] for c in configs} == {12, 24, 36}
    assert {c["output_steps"] for c in configs} == {1, 12}
    assert all(c["season"] == 12 for c in configs if c["difference"] == "seasonal")
    assert set(configs[0]) >= set(SPACE)
    # No season: windows of the default unit, and no seasonal difference.
    assert not any(c["difference"] == "seasonal" for c in grid(1))


def test_candidates_are_a_deterministic_sample_within_the_limit():
    first, inner = candidates(12, 300, 0.8, 6, 12, seed=0)
    again, _ = candidates(12, 300, 0.8, 6, 12, seed=0)
    other, _ = candidates(12, 300, 0.8, 6, 12, seed=1)
    assert first == again and first != other and len(first) == 12
    assert inner == inner_length(300, first, 0.8)
    for c in first:
        # No candidate reads past any configuration's train part; each has a test part of the horizon inside.
        assert inner <= outer_split(300, c, 0.8)
        assert inner - outer_split(inner, c, 0.8) >= 6


def test_a_series_too_short_to_search_is_refused():
    with pytest.raises(SeriesError, match="too short for a search"):
        candidates(12, 40, 0.8, 10, 12, seed=0)


@pytest.mark.parametrize("steps", [1, 12])
def test_refit_all_leaves_one_window(steps):
    winner = {"cell": "GRU", "sequence_length": 24, "output_steps": steps, "difference": "seasonal", "season": 12,
              "epochs": 50, "recipe": "auto", "data": {"length": 200, "train_fraction": 0.8}}
    spec = {"length": 300, "refit": "all"}
    params = refit_params(winner, spec, 17)
    assert params["epochs"] == 17 and params["early_stopping"] is None and params["restore_best"] is False
    assert params["data"]["length"] == 300
    first = split_point(300, 24, params["data"]["train_fraction"], steps, 12)
    assert first == 300 - steps
    held_out = refit_params(winner, {**spec, "refit": "train"}, None)
    assert held_out["data"]["train_fraction"] == 0.8 and held_out["epochs"] == 50
