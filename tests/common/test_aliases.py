"""Aliases' pieces on their own: the gate's judgement and figures (pure), and the store's scripts on a real Redis
(a move's compare and set, a model being deleted, a model an alias left)."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from rnncast.client.cli import app
from rnncast.common.aliases import GATE_FIELDS, PromotionGate, alias_refusal, gate_figures, judge
from rnncast.common.store.alias_ops import Move, hold_model
from rnncast.common.store.keys import Keys
from rnncast.common.store.sync import JobStore

GATE = PromotionGate(skill_over_seasonal_naive=0.1, coverage_error_pp=5)


def test_the_gate_needs_each_bar_and_the_current_models_figures():
    good = {"skill_over_seasonal_naive": 0.5, "coverage_error_pp": 2.0}
    assert judge(GATE, good, None) == [] and judge(GATE, good, good) == []  # as good as the current: passes
    better = {"skill_over_seasonal_naive": 0.6, "coverage_error_pp": 1.0}
    reasons = judge(GATE, good, better)
    assert reasons == ["skill_over_seasonal_naive 0.5 is worse than the current model's 0.6",
                       "coverage_error_pp 2 is worse than the current model's 1"]
    assert judge(GATE, {"skill_over_seasonal_naive": 0.05, "coverage_error_pp": 9}, None) == [
        "skill_over_seasonal_naive 0.05 misses the bar (at least 0.1)",
        "coverage_error_pp 9 misses the bar (at most 5)"]
    unmeasured = judge(GATE, {"skill_over_seasonal_naive": 0.5, "coverage_error_pp": None}, None)
    assert unmeasured == ["coverage_error_pp: the candidate's backtest could not measure it"]
    assert judge(PromotionGate(skill_over_seasonal_naive=0.1), {"skill_over_seasonal_naive": 0.2}, better) == [
        "skill_over_seasonal_naive 0.2 is worse than the current model's 0.6"]  # only the fields required


def test_gate_figures_from_a_backtest_result():
    result = {"model": {"mse": 1.0}, "seasonal_naive": {"mse": 4.0}, "coverage": {"0.8": 0.7, "0.95": None}}
    assert gate_figures(result) == pytest.approx({"skill_over_seasonal_naive": 0.75, "coverage_error_pp": 10.0})
    assert gate_figures({"model": {"mse": 1.0}, "seasonal_naive": {"mse": 0.0}, "coverage": None}) == {
        "skill_over_seasonal_naive": None, "coverage_error_pp": None}
    assert tuple(gate_figures(result)) == GATE_FIELDS


@pytest.mark.parametrize("bad", [{"skill_over_seasonal_naive": 1.5}, {"coverage_error_pp": -1},
                                 {"coverage_error_pp": float("nan")}])
def test_a_gate_out_of_its_bounds_is_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        PromotionGate(**bad)


@pytest.mark.parametrize("name", ["production", "a", "v1.2_rc-3", "9" * 63])
def test_alias_names(name):
    assert alias_refusal(name) is None
    for bad in (name.upper() + "X", "-" + name, name + " ", name + ":x", name + "x" * 63):
        assert alias_refusal(bad) is not None, bad


def test_the_cli_checks_require_before_any_request():
    for given in ("nope=1", "skill", "skill=high", "coverage=-3", "=1"):
        result = CliRunner().invoke(app, ["alias", "set", "prod", "0" * 32, "--require", given,
                                          "--url", "http://127.0.0.1:9"])
        assert result.exit_code == 2 and "--require" in result.output, (given, result.output)


@pytest.fixture
def store(redis_server) -> JobStore:
    return JobStore.from_url(redis_server.url)


def model(store: JobStore) -> str:
    model_id = uuid.uuid4().hex
    store.r.set(Keys.model(model_id), json.dumps({"id": model_id}))
    return model_id


def test_a_move_is_compare_and_set_and_refuses_missing_or_held_models(store):
    name = "cas-" + uuid.uuid4().hex[:8]
    a, b = model(store), model(store)
    assert store.move_alias(name, a, 60_000, expected="") == Move("moved", None, 1)
    assert store.move_alias(name, b, 60_000, expected="") == Move("stale", a)  # it exists now
    assert store.move_alias(name, b, 60_000, expected=b) == Move("stale", a)
    assert store.move_alias(name, a, 60_000) == Move("unchanged")
    assert store.move_alias(name, "0" * 32, 60_000) == Move("missing")
    held = model(store)
    assert store.run(hold_model(held)) == ([], 0)
    assert store.move_alias(name, held, 60_000) == Move("deleting")
    assert store.move_alias(name, b, 60_000, {"passed": True}, expected=a) == Move("moved", a, 2)
    found = store.get_alias(name)
    assert found["model_id"] == b and [(m["from"], m["to"]) for m in found["history"]] == [(None, a), (a, b)]
    assert found["history"][-1]["evidence"] == {"passed": True}
    # a, just left: kept from deletion for the grace period; b, pointed at: kept while it is.
    assert store.run(hold_model(a))[1] > 50_000
    assert store.run(hold_model(b)) == ([name], 0)
    assert store.alias_move(f"{name}#2") == {"alias": name, **found["history"][-1]}
