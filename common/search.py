"""Automatic selection by backtest: the bounded search space, the inner split, the candidates and the view.

A search is a comparison over candidate configurations (one training job each, parallel on the workers) on the
first part of a dataset's train part, each scored by a rolling-origin backtest of the part after it (still
inside the train part), followed by a refit of the best on the whole train part (a comparison of
`ensemble_seeds` seeds). The job's test part is never read by a candidate: see `inner_length`.

Pure functions (no torch, no web): the API builds the candidates, the worker that scores the last one picks
the winner and queues the refit, both read the view from here.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

from rnncast.common.declaration import check_value, spec
from rnncast.common.options import ModelOptions, TrainOptions
from rnncast.common.series import SeriesError, split_point
from rnncast.common.values import finite

# The space: each training field the search varies, with its values. Adding an option to the search is one
# line here. (SEASON, m) is m times the season found on the inner train part (DEFAULT_SEASON when there is
# none); a seasonal difference takes that season as its lag.
SEASON = "season"
SPACE: dict[str, tuple[Any, ...]] = {
    "cell": ("LSTM", "GRU"),
    "sequence_length": ((SEASON, 1), (SEASON, 2), (SEASON, 3)),
    "lr": (3e-3, 1e-2),
    "hidden_size": (16, 32),
    "difference": ("none", "first", "seasonal"),
    "output_steps": (1, (SEASON, 1)),
    "scaling": ("standard", "minmax"),
}
DEFAULT_SEASON = 8  # the window unit when the series shows no season
# Every candidate stops early on its inner test part (with the search's `patience`), keeping its best epoch;
# the refit trains that many epochs.
CANDIDATE_PATIENCE = 10
# The refit has no part to stop on that a candidate could see: it trains the winner's best epochs, no early stop.
REFIT_OPTIONS: dict[str, Any] = {"early_stopping": None, "restore_best": False}
REFITS = ("train", "all")
_SPECS = {s.name: s for cls in (ModelOptions, TrainOptions) for s in spec(cls)}


def candidate_options(patience: int) -> dict[str, Any]:
    """The training options every candidate has besides its point of the space."""
    return {"early_stopping": {"patience": patience, "min_delta": 0.0}, "restore_best": True}


def season_part(length: int, train_fraction: float) -> int:
    """Values the season is looked for in: a prefix inside every candidate's inner train part, whatever its
    sequence_length (split_point(n, s, f) >= int(n * f) for every s, applied twice)."""
    return int(int(length * train_fraction) * train_fraction)


def lag(config: dict[str, Any]) -> int:
    """The differencing lag a candidate's configuration asks for."""
    return {"none": 0, "first": 1, "seasonal": config.get("season") or 0}[config.get("difference", "none")]


def outer_split(length: int, config: dict[str, Any], train_fraction: float) -> int:
    """Where the test part of a job with this configuration starts (SeriesError when it has none)."""
    return split_point(length, config["sequence_length"], train_fraction, config.get("output_steps", 1), lag(config))


def inner_length(length: int, configs: list[dict[str, Any]], train_fraction: float) -> int:
    """The values every candidate uses: the smallest outer train part among them, so that no candidate's
    values reach into the test part of the refit, whichever wins (split_point grows with the window, the
    head and the lag)."""
    return min(outer_split(length, c, train_fraction) for c in configs)


def grid(season: int) -> list[dict[str, Any]]:
    """Every combination of the space that its declarations admit, the season multiples resolved against
    `season` (a seasonal difference needs one: none without it)."""
    unit = season if season > 1 else DEFAULT_SEASON
    resolved = {name: tuple(dict.fromkeys(unit * v[1] if isinstance(v, tuple) and v[0] == SEASON else v
                                          for v in values)) for name, values in SPACE.items()}
    names, out = list(resolved), []
    for combo in itertools.product(*(resolved[n] for n in names)):
        config = dict(zip(names, combo, strict=True))
        if config.get("difference") == "seasonal":
            if season < 2:
                continue
            config["season"] = season
        try:
            for name, value in config.items():
                check_value(_SPECS[name], value)
        except ValueError:
            continue
        out.append(config)
    return out


def candidates(season: int, length: int, train_fraction: float, horizon: int, limit: int,
               seed: int) -> tuple[list[dict[str, Any]], int]:
    """The candidates (at most `limit`, drawn from the grid by `seed` when it is larger, in grid order) and
    the inner length they use. Windows that leave the inner split no train or no `horizon`-long test part
    are left out; SeriesError when none fits."""
    fitting = []
    for config in grid(season):
        try:
            outer_split(length, config, train_fraction)
        except SeriesError:
            continue
        fitting.append(config)
    while fitting:
        inner = inner_length(length, fitting, train_fraction)
        fits = [c for c in fitting if _inner_fits(inner, c, train_fraction, horizon)]
        if fits == fitting:
            break
        fitting = fits
    if not fitting:
        raise SeriesError(f"a series of {length} values is too short for a search: no window of the space leaves "
                          f"its inner split a train part and a test part of {horizon} values (the backtest "
                          f"horizon) inside the train part")
    if len(fitting) > limit:
        keep = sorted(random.Random(seed).sample(range(len(fitting)), limit))
        fitting = [fitting[i] for i in keep]
    return fitting, inner_length(length, fitting, train_fraction)


def _inner_fits(inner: int, config: dict[str, Any], train_fraction: float, horizon: int) -> bool:
    try:
        return inner - outer_split(inner, config, train_fraction) >= horizon
    except SeriesError:
        return False


def all_fraction(length: int, config: dict[str, Any]) -> float:
    """The train_fraction that leaves one window (its `output_steps` targets, the series' last values) for the
    test part: `refit: all`."""
    steps = config.get("output_steps", 1)
    windows = length - lag(config) - config["sequence_length"] - steps + 1
    return (windows - steps + 0.5) / windows


def refit_params(winner: dict[str, Any], spec: dict[str, Any], best_epoch: int | None) -> dict[str, Any]:
    """The refit's params: the winner's on the whole dataset (its test part held out, or with `refit: all`
    all but the last value), for the epochs the winner's early stopping chose, with no early stop."""
    data = {**winner["data"], "length": spec["length"]}
    if spec["refit"] == "all":
        data["train_fraction"] = all_fraction(spec["length"], winner)
    return {**winner, **REFIT_OPTIONS, "data": data, "epochs": best_epoch or winner["epochs"],
            "recipe": spec.get("recipe", winner["recipe"])}


def score_of(backtest: dict[str, Any]) -> tuple[float | None, str]:
    """A candidate's score from its backtest result (lower is better): the model's MASE where the backtest
    has one, else its MSE relative to the best baseline's (1 - skill)."""
    mase = backtest["model"].get("mase")
    if mase is not None:
        return finite(float(mase)), "mase"
    skill = backtest.get("skill")
    return (finite(1.0 - float(skill)) if skill is not None else None), "relative_mse"


def varied(params: dict[str, Any]) -> dict[str, Any]:
    """The fields of a candidate's params the space varies (and a seasonal difference's season)."""
    return {name: params.get(name) for name in (*SPACE, "season") if name in params}


def candidate_row(raw: dict[str, str]) -> dict[str, Any]:
    """One candidate of a search, from its job's hash."""
    params = json.loads(raw["params"])
    scored = json.loads(raw["backtest"]) if raw.get("backtest") else None
    return {
        "job_id": raw["id"], "status": raw["status"], "options": varied(params),
        "epoch": int(raw.get("epoch") or 0),
        "best_epoch": int(raw["best_epoch"]) if raw.get("best_epoch") else None,
        "train_values": params["data"]["length"],
        "score": scored.get("score") if scored else None,
        "score_kind": scored.get("score_kind") if scored else None,
        "skill": scored.get("skill") if scored else None,
        "backtest_error": scored.get("error") if scored else None,
        "error": raw.get("error") or None,
    }


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Succeeded, scored candidates, best first (ties: the earlier candidate)."""
    scored = [r for r in rows if r["status"] == "succeeded" and r["score"] is not None]
    return sorted(scored, key=lambda r: r["score"])


def search_status(raw: dict[str, str], refit: dict[str, str] | None) -> tuple[str, str]:
    """(status, phase) of a search: candidates, selecting, refit, done. `refit` is its refit comparison's state
    once a winner is chosen."""
    if raw["status"] == "running":
        return "running", "candidates"
    if raw.get("search_error"):
        return "failed", "done"
    if refit is not None:
        status = refit.get("status", "running")
        return status, ("refit" if status == "running" else "done")
    if raw.get("cancel_requested"):
        return "cancelled", "done"
    return "running", "selecting"


def search_view(raw: dict[str, str], jobs: list[dict[str, str]], refit: dict[str, str] | None) -> dict[str, Any]:
    """The public JSON of a search."""
    rows = [candidate_row(job) for job in jobs]
    status, phase = search_status(raw, refit)
    spec = json.loads(raw["search"])
    return {
        "id": raw["id"], "name": raw.get("name") or None, "status": status, "phase": phase,
        **{k: spec[k] for k in ("dataset_id", "length", "season", "inner_length", "refit", "ensemble_seeds",
                                "epochs", "backtest")},
        "candidates": rows,
        "best_job_id": raw.get("winner") or None,
        "refit_comparison_id": raw.get("refit_id") or None,
        "refit_job_ids": spec.get("refit_job_ids", []),
        "model_ids": json.loads(refit["model_ids"]) if refit and refit.get("model_ids") else [],
        "error": raw.get("search_error") or None,
        "created_at": raw["created_at"],
        "finished_at": (refit or {}).get("finished_at") or (raw.get("finished_at") if phase == "done" else None),
    }
