"""Trained models: registry, deletion, and forecasts served by predict workers."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from rnncast.common.artifacts.layout import remove_model_files
from rnncast.common.defaults import (
    BACKTEST_HORIZON,
    BACKTEST_ORIGINS,
    FORECAST_HORIZON,
    FORECAST_START,
    MAX_BACKTEST_ORIGINS,
    MAX_HORIZON,
    MAX_POINTS,
    MAX_START,
)
from rnncast.common.settings import Settings
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.values import is_id
from rnncast.common.verdict import verdict
from rnncast.service import limits
from rnncast.service.deps import ArtifactsDep, LaneDep, PageDep, SettingsDep, StoreDep, WorkerDep
from rnncast.service.errors import ERRORS, not_found, unprocessable
from rnncast.service.forecast_ask import ask_forecast, batch_header
from rnncast.service.ids import model_or_404
from rnncast.service.labels import ScanBudget, TrainedFilters, relabel_or_404
from rnncast.service.limits import Limited, refusal
from rnncast.service.openapi import PNG
from rnncast.service.promotion import hold_for_deletion
from rnncast.service.schemas import (
    BacktestRequest,
    BacktestResult,
    ForecastRequest,
    ForecastResponse,
    Model,
    ModelList,
)
from rnncast.service.schemas.base import Levels
from rnncast.service.schemas.labels import LabelsPatch

router = APIRouter(prefix="/models", tags=["models"])


def _message(model: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    return {"model_id": model["id"], "sha256": model["checkpoint"]["sha256"], **request}


@router.get("", response_model=ModelList, responses=ERRORS)
async def list_models(
    store: StoreDep,
    filters: TrainedFilters,
    scan: ScanBudget,
    page: PageDep,
) -> JSONResponse:
    """Models newest first, those that match every filter given; `count` is the total matching."""
    models, count = await store.list_models(page.limit, page.offset, filters, scan=scan)
    return JSONResponse({"data": await _with_aliases(store, models), **count.fields()})


async def _with_aliases(store: AsyncJobStore, models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as answered: each with the names of the aliases pointing at it (one round trip for all)."""
    named = await store.aliases_of([m["id"] for m in models])
    return [{**m, "aliases": named.get(m["id"], [])} for m in models]


async def _model_view(store: AsyncJobStore, model_id: str) -> dict[str, Any]:
    """The model's record as its routes answer it (with its aliases); 404/409 as `model_or_404`."""
    (model,) = await _with_aliases(store, [await model_or_404(store, model_id)])
    return model


@router.get("/{model_id}", response_model=Model, responses=ERRORS)
async def get_model(model_id: str, store: StoreDep) -> JSONResponse:
    return JSONResponse(await _model_view(store, model_id))


@router.patch("/{model_id}", response_model=Model, responses=ERRORS)
async def label_model(model_id: str, body: LabelsPatch, store: StoreDep) -> JSONResponse:
    """Change a model's name and tags (a JSON merge patch: a field left out stays, null clears it). A model
    starts with its job's; from then on they are its own."""
    await model_or_404(store, model_id)
    await relabel_or_404(store, "model", model_id, body)
    return JSONResponse(await _model_view(store, model_id))


@router.delete("/{model_id}", status_code=204, responses=ERRORS)
async def delete_model(model_id: str, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """Forget the model and remove its checkpoint files; later forecasts are 404. A model an alias points at is
    kept (409 naming the aliases)."""
    await model_or_404(store, model_id)
    await hold_for_deletion(store, model_id)  # from here no alias may move onto it
    # Files first: a store that fails answers 503 with the record kept, and a retry deletes both.
    await artifacts.call(remove_model_files, model_id)
    await store.delete_model(model_id)
    await store.release_model(model_id)
    return Response(status_code=204)


@router.post("/{model_id}/forecast", response_model=ForecastResponse, responses=ERRORS)
async def forecast(
    model_id: str, body: ForecastRequest, lane: LaneDep, settings: SettingsDep,
) -> Response:
    """Continue the model's own sine from `start`, its dataset from `origin` (or from the series' end, given only
    `horizon`), or your `context`, for `horizon` steps. A dataset model answers in the series' units.

    Concurrent requests for the same model and horizon are computed as one
    batched rollout on a predict worker; `X-Rnncast-Batch` says how many
    requests shared this one's. The model is looked up as the request is
    queued (in the same step), and a job's id whose job has not succeeded
    (queued, running, failed, cancelled) is a 409 that says so.
    """
    if not is_id(model_id):
        raise not_found("model", model_id)
    answer = await ask_forecast(lane, settings, model_id, body.model_dump(exclude_none=True))
    # The worker's body goes out as it came: no second parse and encode of the predictions.
    return Response(answer.body, status_code=answer.status, media_type="application/json",
                    headers=batch_header(answer))


@router.get(
    "/{model_id}/forecast.png",
    response_class=Response,
    responses={**ERRORS, **PNG},
)
async def forecast_png(
    model_id: str, store: StoreDep, settings: SettingsDep, worker: WorkerDep,
    start: Annotated[float | None, Query(ge=-MAX_START, le=MAX_START, allow_inf_nan=False,
                                         description=f"sine models (default {FORECAST_START:g})")] = None,
    origin: Annotated[int | None, Query(ge=0, le=MAX_POINTS, description="dataset models (default: the series' "
                                        "end)")] = None,
    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON), Limited("max_horizon")] = FORECAST_HORIZON,
    context: Annotated[str | None, Query(
        max_length=4000, pattern=r"^[0-9eE+\-., ]*$",
        description="your values, comma-separated (at least sequence_length; for longer contexts POST "
        ".../forecast)")] = None,
    interval: Annotated[Levels | None, Query(
        description="a prediction-interval level in (0, 1), drawn as a shaded band; repeat for more")] = None,
) -> Response:
    """Context, exact continuation and predictions, as in the tutorial's figure (rendered on a worker): from
    `start` (sine models), `origin` (dataset models; default the series' end) or your `context`."""
    limits.check("horizon", horizon, "max_horizon", settings)  # the default too
    model = await model_or_404(store, model_id)
    given = [name for name, value in (("start", start), ("origin", origin), ("context", context)) if value is not None]
    if len(given) > 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"give at most one of 'start', 'origin' or 'context', not {given}")
    request: dict[str, Any] = {"figure": "forecast", "horizon": horizon}
    request |= {k: v for k, v in (("start", start), ("origin", origin)) if v is not None}
    if context is not None:
        request["context"] = parse_context(context, settings)
    if interval:
        request["intervals"] = interval
    return await worker.png(_message(model, request))



def parse_context(text: str, settings: Settings) -> list[float]:
    """Comma-separated finite numbers, at most RNNCAST_MAX_CONTEXT of them; 422 otherwise."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "context must be comma-separated numbers") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "context must be finite numbers")
    if (reason := refusal("context", values, "max_context", settings)) is not None:
        raise unprocessable(reason)
    return values


@router.post("/{model_id}/backtest", response_model=BacktestResult, responses=ERRORS)
async def backtest(model_id: str, body: BacktestRequest, store: StoreDep, worker: WorkerDep) -> JSONResponse:
    """Rolling-origin evaluation over the model's test part: `origins` forecasts of `horizon` steps, each from the
    values before its origin only, against the naive (last value), seasonal naive (one season earlier) and
    seasonal naive with drift (plus the mean seasonal change so far, per season ahead) baselines on the same
    origins. MSE, MAE and sMAPE per step and overall, in the series' units, MASE and MAPE overall; `skill` =
    1 - model MSE / the best baseline's. Computed on a predict worker, the model's forecasts batched. The
    model's record keeps the verdict (`backtest`); a negative skill makes its forecasts carry a `warning`."""
    model = await model_or_404(store, model_id)
    result = await worker.ask(_message(model, {"figure": "backtest", **body.model_dump()}))
    # The model's record keeps its last verdict (its forecasts warn when it is negative).
    await store.set_model_field(model_id, "backtest", verdict(result))
    return JSONResponse(result)


@router.get("/{model_id}/backtest.png", response_class=Response, responses={**ERRORS, **PNG})
async def backtest_png(
    model_id: str, store: StoreDep, settings: SettingsDep, worker: WorkerDep,
    origins: Annotated[int, Query(ge=1, le=MAX_BACKTEST_ORIGINS)] = BACKTEST_ORIGINS,
    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON), Limited("max_horizon")] = BACKTEST_HORIZON,
    season: Annotated[int | None, Query(ge=1, le=MAX_POINTS)] = None,
) -> Response:
    """MSE by horizon step: the model against the naive and seasonal naive baselines (log scale)."""
    limits.check("horizon", horizon, "max_horizon", settings)  # the default too
    model = await model_or_404(store, model_id)
    request = {"figure": "backtest_png", "origins": origins, "horizon": horizon, "season": season}
    return await worker.png(_message(model, request))
