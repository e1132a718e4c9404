"""Trained models: registry, deletion, and forecasts served by workers on the `predict` queue."""

from __future__ import annotations

import shutil
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from common.paths import model_dir
from common.queue import PREDICT_TASK
from common.settings import Settings
from common.store import is_id
from common.store.aio import AsyncJobStore
from service.deps import CeleryDep, SettingsDep, StoreDep
from service.routes.jobs import ERRORS
from service.rpc import ask_worker, ask_worker_png
from service.schemas import ForecastRequest, ForecastResponse, Model, ModelList

router = APIRouter(prefix="/models", tags=["models"])


async def model_or_404(store: AsyncJobStore, model_id: str) -> dict[str, Any]:
    model = await store.get_model(model_id) if is_id(model_id) else None
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model {model_id!r} not found")
    return model


def _message(model: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    return {"model_id": model["id"], "sha256": model["checkpoint"]["sha256"], **request}


def check_request(body: ForecastRequest, model: dict[str, Any], settings: Settings) -> None:
    if body.horizon > settings.max_horizon:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"horizon ({body.horizon}) exceeds this server's limit ({settings.max_horizon})",
        )
    needed = model["params"]["sequence_length"]
    if body.context is not None and len(body.context) < needed:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"context has {len(body.context)} values; this model needs at least sequence_length ({needed})",
        )


@router.get("", response_model=ModelList, responses=ERRORS)
async def list_models(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    """Models newest first."""
    models, count = await store.list_models(limit, offset)
    return JSONResponse({"data": models, "count": count})


@router.get("/{model_id}", response_model=Model, responses=ERRORS)
async def get_model(model_id: str, store: StoreDep) -> JSONResponse:
    return JSONResponse(await model_or_404(store, model_id))


@router.delete("/{model_id}", status_code=204, responses=ERRORS)
async def delete_model(model_id: str, store: StoreDep, settings: SettingsDep) -> Response:
    """Forget the model and remove its checkpoint files; later forecasts are 404."""
    await model_or_404(store, model_id)
    await store.delete_model(model_id)
    await run_in_threadpool(shutil.rmtree, model_dir(settings.data_dir, model_id), True)
    return Response(status_code=204)


@router.post("/{model_id}/forecast", response_model=ForecastResponse, responses=ERRORS)
async def forecast(
    model_id: str, body: ForecastRequest, store: StoreDep, celery: CeleryDep, settings: SettingsDep
) -> JSONResponse:
    """Continue the model's own sine from `start`, or your `context`, for `horizon` steps."""
    model = await model_or_404(store, model_id)
    check_request(body, model, settings)
    message = _message(model, body.model_dump(exclude_none=True))
    result = await ask_worker(store, celery, settings, PREDICT_TASK, message)
    # How many concurrent requests shared this one's batched rollout (for operators).
    batch = result.pop("_batch", 1)
    return JSONResponse(result, headers={"X-Rnncast-Batch": str(batch)})


@router.get(
    "/{model_id}/forecast.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **ERRORS},
)
async def forecast_png(
    model_id: str, store: StoreDep, celery: CeleryDep, settings: SettingsDep,
    start: Annotated[float, Query(ge=-1e6, le=1e6, allow_inf_nan=False)] = 123.0,
    horizon: Annotated[int, Query(ge=1, le=1_000_000)] = 100,
) -> Response:
    """Context, exact continuation and predictions, as in the tutorial's figure (rendered on a worker)."""
    model = await model_or_404(store, model_id)
    body = ForecastRequest(start=start, horizon=horizon)
    check_request(body, model, settings)
    message = _message(model, {"start": start, "horizon": horizon, "png": True})
    return await ask_worker_png(store, celery, settings, PREDICT_TASK, message)
