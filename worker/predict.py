"""Forecasts on the worker: a bounded LRU cache of verified models, and the request handler."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from celery.utils.log import get_task_logger

from rnncast.common.artifacts import ArtifactError, ArtifactStore
from rnncast.common.artifacts.layout import model_prefix
from rnncast.common.options import DatasetData, SineData
from rnncast.common.store.sync import JobStore
from rnncast.common.values import finite, finite_list
from rnncast.core.checkpoint import Checkpoint, CheckpointError, checkpoint_exists, load_checkpoint
from rnncast.core.conformal import Calibration, NoCalibration, intervals
from rnncast.core.forecast import (
    Forecast,
    context_forecast,
    context_window,
    origin_window,
    series_forecast,
    start_forecast,
    start_window,
)
from rnncast.core.models import Forecaster
from rnncast.core.transform import Transform
from rnncast.worker.deadlines import failure_detail
from rnncast.worker.guard import context_position, first_position
from rnncast.worker.results import MODEL_NAME

log = get_task_logger(__name__)
SWEEP_EVERY_S = 10.0


class ModelUnavailable(Exception):
    """The model's files are missing (404) or do not verify (503)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class ModelLoadFailed(ModelUnavailable):
    """The model could not be loaded for a reason of this worker's (a disk's I/O error, memory), not of its
    files: 503, and worth a retry (an import's verification does not refuse the checkpoint for it)."""


@dataclass
class LoadedModel:
    sha256: str
    model: Forecaster
    checkpoint: Checkpoint
    calibration: Calibration | None = None  # its intervals' residuals (core.conformal); None: no intervals

    def __post_init__(self) -> None:
        # Built once: the checkpoint's property builds one on each read, and a forecast reads it several times.
        self.transform: Transform = self.checkpoint.transform

    @property
    def dataset(self) -> DatasetData | None:
        """The dataset the model was trained on, or None for a sine model."""
        data = self.checkpoint.data
        return data if isinstance(data, DatasetData) else None

    @property
    def sine(self) -> SineData:
        """The sine a sine model learned."""
        data = self.checkpoint.data
        if not isinstance(data, SineData):
            raise ValueError("this model was trained on a dataset, not the sine")
        return data

    @property
    def series(self) -> np.ndarray:
        """A dataset model's own copy of its series."""
        values = self.checkpoint.series
        if values is None:
            raise ValueError("this model's checkpoint holds no series")
        return values


class ModelCache:
    """Up to `size` models, least recently used evicted; entries of deleted models are swept.

    Models load from `artifacts` (a worker's store keeps the files of models it
    serves from S3 in a bounded local cache, by sha256: common.artifacts.CachedStore).
    """

    def __init__(self, size: int, artifacts: ArtifactStore) -> None:
        self.size, self.artifacts = size, artifacts
        self._items: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def get(self, model_id: str, sha256: str) -> LoadedModel:
        """The model, loaded and digest-checked on first use."""
        with self._lock:
            hit = self._items.get(model_id)
            if hit is not None and hit.sha256 == sha256:
                self._items.move_to_end(model_id)
                return hit
        loaded = self._load(model_id, sha256)
        with self._lock:
            self._items[model_id] = loaded
            self._items.move_to_end(model_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return loaded

    def _load(self, model_id: str, sha256: str) -> LoadedModel:
        """Raises ModelUnavailable only: a failure of any other kind (a disk's I/O error, a build that fails) is a
        ModelLoadFailed (503), so every caller answers it and a lane turn judges a model once, whatever went
        wrong."""
        try:
            return self._read(model_id, sha256)
        except ModelUnavailable:
            raise
        except Exception as exc:
            log.exception("model %s could not be loaded", model_id)  # its paths and keys stay in the log
            raise ModelLoadFailed(503, f"model {model_id!r} is unavailable: {failure_detail('its loading', exc)}") \
                from None

    def _read(self, model_id: str, sha256: str) -> LoadedModel:
        folder = self.artifacts.at(model_prefix(model_id))
        try:
            if not checkpoint_exists(folder, MODEL_NAME):
                raise ModelUnavailable(404, f"model {model_id!r} has no checkpoint files in the artifact store")
            ckpt = load_checkpoint(folder, MODEL_NAME)
        except CheckpointError as exc:
            raise ModelUnavailable(503, f"model {model_id!r} is unavailable: {exc}") from None
        except ArtifactError as exc:
            log.warning("model %s: %s", model_id, exc)  # the detail (endpoint, bucket, key) stays in the log
            raise ModelUnavailable(503, f"model {model_id!r} is unavailable: {exc.public}") from None
        if ckpt.info is None or ckpt.info.sha256 != sha256:
            raise ModelUnavailable(503, f"model {model_id!r} is unavailable: its checkpoint is not the one recorded")
        raw = ckpt.extra.get("calibration")
        try:
            calibration = Calibration.from_dict(raw) if raw else None
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"model {model_id!r} is unavailable: its calibration is invalid ({exc})"
            raise ModelUnavailable(503, detail) from None
        return LoadedModel(sha256, ckpt.build_model("cpu"), ckpt, calibration)

    def sweep(self, store: JobStore) -> None:
        """Drop entries whose model was deleted (checked at most every few seconds)."""
        if time.monotonic() - self._swept < SWEEP_EVERY_S or not self._items:
            return
        self._swept = time.monotonic()
        with self._lock:
            ids = list(self._items)
        alive = store.existing_models(ids)
        with self._lock:
            for model_id in set(ids) - alive:
                self._items.pop(model_id, None)


def forecast_payload(model_id: str, horizon: int, fc: Forecast, fields: list[str] | None = None,
                     bands: list[dict[str, Any]] | None = None, calibrated_steps: int | None = None) -> dict[str, Any]:
    """The API's answer; a diverged model's NaN/inf predictions become null (JSON has no NaN).

    `exact` and the errors come where the true values are known: a sine's
    `start`, a dataset's `origin` inside the series (over the steps it covers).
    With `fields`, only those (and model_id, horizon, and the intervals asked for) are sent.
    """
    out: dict[str, Any] = {"model_id": model_id, "horizon": horizon, "x": fc.x, "y": finite_list(fc.y)}
    if fc.exact is not None:
        out |= {"exact": fc.exact, "mse": finite(fc.mse), "max_abs_error": finite(fc.max_abs_error)}
    if fields is not None:
        out = {k: v for k, v in out.items() if k in fields or k in ("model_id", "horizon")}
    if bands is not None:
        out["intervals"] = [{"level": b["level"], "lower": finite_list(b["lower"]),
                             "upper": finite_list(b["upper"])} for b in bands]
        out["calibrated_steps"] = calibrated_steps
    return out


def intervals_refusal(loaded: LoadedModel, levels: list[float] | None) -> tuple[int, str] | None:
    """Why a request's `intervals` cannot be answered: (409, no calibration) or (422, a level too high for
    the calibration's size); None when they can (or none were asked for)."""
    if not levels:
        return None
    if loaded.calibration is None:
        return 409, ("this model has no calibration, so it gives no intervals: it was trained before intervals "
                     "existed, or its test part is too short to calibrate on (see the model's `calibration`); "
                     "train it again to get them")
    try:
        loaded.calibration.check(levels)
    except NoCalibration as exc:
        return 422, f"intervals: {exc}"
    return None


def request_bands(loaded: LoadedModel, request: dict[str, Any], fc: Forecast) -> list[dict[str, Any]] | None:
    """The intervals a request asks for around its forecast (checked by `intervals_refusal` first)."""
    levels = request.get("intervals")
    if not levels or loaded.calibration is None:
        return None
    return intervals(loaded.calibration, levels, np.asarray(fc.y, dtype=np.float64))


def origin_of(loaded: LoadedModel, request: dict[str, Any]) -> int:
    """A dataset model's forecast origin: the one asked for, else the series' end."""
    dataset = loaded.dataset
    assert dataset is not None
    if request.get("start") is not None:
        raise ValueError(f"this model was trained on dataset {dataset.dataset_id!r}, not the sine: forecast from "
                         f"an 'origin' (a position in the series), your 'context', or give only 'horizon' to go "
                         f"on from the series' end")
    origin = request.get("origin")
    return dataset.length if origin is None else int(origin)


def request_observed(loaded: LoadedModel, request: dict[str, Any]) -> np.ndarray:
    """The values a request continues, in the series' units: the window and, for a differenced model, the
    `lag` values before it (Transform.context).

    Raises ValueError for a bad context, start or origin.
    """
    seq = loaded.checkpoint.train.sequence_length
    size = loaded.transform.context(seq)
    context = request.get("context")
    if context is not None:
        context_position(loaded.checkpoint.data, request)  # a context_start off the axis: refused here
        if len(context) < size:
            more = f" + {size - seq} to difference from" if size > seq else ""
            raise ValueError(f"context has {len(context)} values; this model needs at least sequence_length ({seq})"
                             f"{more}")
        return context_window(context, size)
    if loaded.dataset is not None:
        return origin_window(loaded.series, size, origin_of(loaded, request))
    if request.get("origin") is not None:
        raise ValueError("'origin' applies to models trained on a dataset; this one learned the sine: "
                         "give 'start' or 'context'")
    if request.get("start") is None:
        raise ValueError("this model learned the sine: give exactly one of 'start' or 'context'")
    return start_window(loaded.sine, seq, float(request["start"]))


def model_window(loaded: LoadedModel, observed: np.ndarray) -> np.ndarray:
    """The window a request continues (`request_observed`'s values), as the model reads it (a dataset model's
    differenced and scaled): (T,)."""
    return loaded.transform.forward(observed)


def request_features(loaded: LoadedModel, request: dict[str, Any], horizon: int) -> np.ndarray | None:
    """A covariate model's features for a request's window and horizon, from its dataset's time axis:
    (T + horizon, F); None for a model without covariates.

    Raises ValueError for a context that is not on the axis (not the series' tail).
    """
    transform = loaded.transform
    if not transform.width:
        return None
    origin = first_position(loaded.series, loaded.checkpoint.data, request)
    if origin is None:
        raise ValueError(f"this model reads covariates ({', '.join(transform.covariates)}) from its dataset's "
                         f"timestamps, and your context has none: give its first value's 'context_start', or "
                         f"forecast from an 'origin', from the series' end, or with a context that is the "
                         f"series' tail")
    features = transform.rollout_features(np.array([origin]), loaded.checkpoint.train.sequence_length, horizon)
    assert features is not None
    return features[0]


def request_forecast(
    loaded: LoadedModel, request: dict[str, Any], preds: np.ndarray, observed: np.ndarray, with_context: bool = True,
    in_units: bool = False,
) -> Forecast:
    """A request's forecast from its row of predictions (in the model's units; `in_units`: already in the
    series' units, e.g. a baseline's), in the series' units (with the truth where known; with the context before
    it only when a figure needs it). `observed`: what the request continues (`request_observed`'s)."""
    ckpt = loaded.checkpoint
    if not in_units:
        preds = loaded.transform.inverse(preds, observed)
    if request.get("context") is not None:
        return context_forecast(preds)
    dataset = loaded.dataset
    if dataset is not None:
        return series_forecast(loaded.series, dataset.step, ckpt.train.sequence_length, origin_of(loaded, request),
                               preds)
    return start_forecast(loaded.sine, ckpt.train.sequence_length, float(request["start"]), preds, with_context)
