"""Searches (common.search) in the store: a comparison record over the candidates' jobs, listed in its own
index, with the winner, the refit comparison and any error in extra fields of its hash."""

from __future__ import annotations

import json
from typing import Any

from rnncast.common.comparisons import RUN_FIELDS
from rnncast.common.options import TrainOptions
from rnncast.common.store.comparison_jobs import cancel_comparison
from rnncast.common.store.comparison_ops import get_comparison
from rnncast.common.store.keys import Keys
from rnncast.common.store.label_ops import unindex
from rnncast.common.store.plan import Op, batch, cmd, one

CANDIDATE_FIELDS = (*RUN_FIELDS, "backtest", "best_epoch")


def get_search(search_id: str) -> Op[tuple[dict[str, str], list[dict[str, str]], dict[str, str] | None] | None]:
    """A search's hash, its candidates' jobs, and its refit's state (status, finished_at, model_ids), or None
    (also for a comparison that is not a search)."""
    found = yield from get_comparison(search_id, fields=CANDIDATE_FIELDS)
    if found is None or not found[0].get("search"):
        return None
    raw, jobs = found
    refit = None
    if raw.get("winner"):
        refit_found = yield from get_comparison(raw["refit_id"], fields=("id", "status"))
        if refit_found is not None:
            refit_raw, runs = refit_found
            refit = {"status": refit_raw["status"], "finished_at": refit_raw.get("finished_at") or "",
                     "model_ids": json.dumps([r["id"] for r in runs if r.get("status") == "succeeded"])}
    return raw, jobs, refit


def list_searches(limit: int, offset: int) -> Op[tuple[list[str], int]]:
    """Search ids newest first, and how many there are."""
    ids, count = yield batch(cmd("zrevrange", Keys.searches, offset, offset + limit - 1), cmd("zcard", Keys.searches))
    return list(ids), int(count)


def record_score(job_id: str, scored: dict[str, Any]) -> Op[None]:
    """Keep a candidate's backtest score in its job's hash."""
    yield batch(cmd("hset", Keys.job(job_id), "backtest", json.dumps(scored)), cmd("delete", Keys.view(job_id)))


def start_refit(search_id: str, winner: str, runs: list[tuple[str, dict[str, Any]]]) -> Op[bool]:
    """Name the search's winner (exactly one caller wins) and give its refit's waiting jobs (and its refit
    comparison's record) the winner's params; False once it has a winner or a cancel was asked for (nothing
    changed then)."""
    key = Keys.comparison(search_id)
    claimed, cancelled, refit_id = yield batch(cmd("hsetnx", key, "winner", winner),
                                               cmd("hget", key, "cancel_requested"), cmd("hget", key, "refit_id"))
    if not claimed or cancelled:
        return False
    calls = []
    if runs and refit_id:
        train = {k: v for k, v in runs[0][1].items() if k not in ("cell", "seed")}
        calls.append(cmd("hset", Keys.comparison(str(refit_id)),
                         mapping={"cells": json.dumps([runs[0][1]["cell"]]), "train": json.dumps(train)}))
    for job_id, params in runs:
        calls += [cmd("hset", Keys.job(job_id), mapping={"params": json.dumps(params),
                                                         "epochs": TrainOptions.pick(params).total_epochs}),
                  cmd("hdel", Keys.job(job_id), "awaiting"), cmd("delete", Keys.view(job_id))]
    yield batch(*calls, atomic=True)
    return True


def fail_search(search_id: str, error: str) -> Op[None]:
    """End a search whose selection found no winner: its refit's waiting jobs are cancelled."""
    yield batch(cmd("hset", Keys.comparison(search_id), "search_error", error[:500]))
    yield from _cancel_refit(search_id)


def cancel_search(search_id: str, job_ids: list[str]) -> Op[None]:
    """Cancel every unfinished candidate and the refit's runs, if any."""
    yield from cancel_comparison(search_id, job_ids)
    yield from _cancel_refit(search_id)


def _cancel_refit(search_id: str) -> Op[None]:
    refit_id = yield from one(cmd("hget", Keys.comparison(search_id), "refit_id"))
    if refit_id:
        found = yield from get_comparison(str(refit_id), fields=("id",))
        if found is not None:
            yield from cancel_comparison(str(refit_id), [job["id"] for job in found[1]])


def cancel_requested(search_id: str) -> Op[bool]:
    return bool((yield from one(cmd("hget", Keys.comparison(search_id), "cancel_requested"))))


def delete_search_index(search_id: str) -> Op[None]:
    yield from unindex(Keys.searches, search_id)
