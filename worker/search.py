"""A search on the workers: the season its space is built on, each candidate's backtest score, and the refit
of the best once the last candidate is scored (common.search says what a search is)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from celery.utils.log import get_task_logger

from rnncast.common.artifacts import ArtifactStore, StoreUnavailable, public_text
from rnncast.common.artifacts.layout import model_prefix
from rnncast.common.datasets import DatasetUnavailable, load_values
from rnncast.common.search import candidate_row, ranked, refit_params, score_of
from rnncast.common.settings import Settings
from rnncast.common.store.sync import JobStore
from rnncast.core.backtest import find_season
from rnncast.core.checkpoint import CheckpointError, load_checkpoint
from rnncast.core.forecast import RolloutStopped
from rnncast.worker.model_figures import run_backtest
from rnncast.worker.predict import LoadedModel
from rnncast.worker.results import MODEL_NAME

log = get_task_logger(__name__)


def handle_season(artifacts: ArtifactStore, request: dict[str, Any]) -> dict[str, Any]:
    """The season of a dataset's first `length` values (the figure lane's 'season' request)."""
    try:
        values = load_values(artifacts, request["dataset_id"], request["sha256"])[: int(request["length"])]
    except (DatasetUnavailable, StoreUnavailable) as exc:
        log.warning("dataset %s: %s", request["dataset_id"], exc)
        return {"ok": False, "status": 503, "detail": public_text(exc)}
    return {"ok": True, "result": {"season": find_season(values, max(values.shape[0] // 2, 1))}}


def conclude(store: JobStore, settings: Settings, artifacts: ArtifactStore, job_id: str,
             send_train: Callable[[str], None]) -> None:
    """After a job ended: if it is a search's candidate, score it (succeeded) and, when it was the last to be
    scored, queue the refit of the best candidate."""
    raw = store.job_raw(job_id)
    search_id = (raw or {}).get("comparison_id")
    found = store.get_search(search_id) if search_id else None
    if raw is None or found is None:
        return
    search, _, _ = found
    if raw["status"] == "succeeded" and not raw.get("backtest"):
        store.record_score(job_id, score(artifacts, settings, job_id, json.loads(search["search"])["backtest"]))
    _maybe_refit(store, str(search_id), send_train)


def score(artifacts: ArtifactStore, settings: Settings, job_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """A candidate's backtest on its inner test part (the predict workers' backtest path) and its score."""
    try:
        ckpt = load_checkpoint(artifacts.at(model_prefix(job_id)), MODEL_NAME)
        assert ckpt.info is not None
        loaded = LoadedModel(ckpt.info.sha256, ckpt.build_model("cpu"), ckpt)
        result = run_backtest(loaded, request, settings.max_forecast_work)
    except (CheckpointError, StoreUnavailable, ValueError, RolloutStopped) as exc:
        log.warning("search candidate %s: its backtest failed: %s", job_id, exc)
        return {"score": None, "score_kind": None, "skill": None, "error": str(exc)[:300]}
    value, kind = score_of(result)
    return {"score": value, "score_kind": kind, "skill": result.get("skill"), "season": result.get("season"),
            "origins": result.get("origins"), "horizon": result.get("horizon"),
            "test_start": result.get("test_start"), "model_mse": result["model"].get("mse"),
            "best_baseline": result.get("best_baseline")}


def _maybe_refit(store: JobStore, search_id: str, send_train: Callable[[str], None]) -> None:
    """Start the refit once every candidate has ended and every succeeded one is scored: its waiting jobs get
    the best candidate's params and their tasks (the caller that sees that first wins the claim; a cancelled
    search gets none)."""
    found = store.get_search(search_id)
    if found is None:
        return
    raw, jobs, _ = found
    if raw["status"] == "running" or raw.get("winner") or raw.get("cancel_requested") or raw.get("search_error"):
        return
    rows = [candidate_row(job) for job in jobs]
    if any(job["status"] == "succeeded" and not job.get("backtest") for job in jobs):
        return  # a candidate's worker is still scoring it: it concludes after
    best = ranked(rows)
    if not best:
        if store.start_refit(search_id, "-", []):  # claimed: this caller ends it
            store.fail_search(search_id, "no candidate succeeded with a backtest score")
        return
    spec = json.loads(raw["search"])
    winner = next(job for job in jobs if job["id"] == best[0]["job_id"])
    params = refit_params(json.loads(winner["params"]), spec, best[0]["best_epoch"])
    runs = [(job_id, {**params, "seed": spec["seed"] + i}) for i, job_id in enumerate(spec["refit_job_ids"])]
    if store.start_refit(search_id, winner["id"], runs):
        for job_id, _ in runs:
            send_train(job_id)
        log.info("search %s: refit of candidate %s queued", search_id, winner["id"])
