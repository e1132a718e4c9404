"""`Client`: typed access to every rnncast endpoint over httpx (no torch, no server code)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from rnncast.client.aliases import AliasCalls
from rnncast.client.errors import (
    ApiUnavailable,
    AuthError,
    Conflict,
    InvalidRequest,
    JobCancelled,
    JobFailed,
    NotFound,
    RateLimited,
    RnncastError,
    describe,
)
from rnncast.client.labels import LabelCalls, list_filters
from rnncast.client.sessions import SessionCalls
from rnncast.client.transfer import TransferCalls
from rnncast.client.types import (
    FINAL,
    Backtest,
    Comparison,
    ComparisonPage,
    Dataset,
    DatasetPage,
    DatasetValues,
    EpochEvent,
    Forecast,
    Job,
    JobPage,
    Model,
    ModelPage,
    Search,
    SearchPage,
)
from rnncast.client.webhooks import WebhookCalls
from rnncast.common.defaults import (
    BACKTEST_HORIZON,
    BACKTEST_ORIGINS,
    FORECAST_HORIZON,
    FORECAST_START,
    LIST_PAGE,
    VIEW_PAGE,
)
from rnncast.common.options import JobOptions, ModelOptions, TrainOptions, spec

DEFAULT_URL = "http://127.0.0.1:8000"
T = TypeVar("T", bound=BaseModel)
_BY_STATUS: dict[int, type[RnncastError]] = {
    401: AuthError, 404: NotFound, 409: Conflict, 413: InvalidRequest, 422: InvalidRequest,
    429: RateLimited, 503: ApiUnavailable,
}


# The fields a training job takes besides cell and seed: the declared options (common.options), the data, a name
# and tags.
JOB_FIELDS = frozenset(s.name for cls in (ModelOptions, TrainOptions, JobOptions) for s in spec(cls)) | {
    "data", "name", "tags"}


def job_fields(given: dict[str, Any]) -> dict[str, Any]:
    """The given job fields (None: left to the server), refused before any HTTP when one is not a job field."""
    unknown = sorted(set(given) - JOB_FIELDS)
    if unknown:
        raise TypeError(f"unknown training option(s) {unknown}; the options are {sorted(JOB_FIELDS)}")
    return {k: v for k, v in given.items() if v is not None}


class Client(WebhookCalls, AliasCalls, TransferCalls, SessionCalls, LabelCalls):
    """An rnncast API client; use it as a context manager to close its connections.

    Args:
        base_url: defaults to RNNCAST_URL, else http://127.0.0.1:8000.
        api_key: defaults to RNNCAST_API_KEY; sent as a Bearer token.
        retries: extra tries after a connection error, for calls safe to repeat
            (reads, deletes, and submits, which carry an Idempotency-Key).
        transport: an httpx transport (tests use httpx.MockTransport).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("RNNCAST_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("RNNCAST_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.retries = retries
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Plumbing ---------------------------------------------------------------

    def _request(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt + 1 == attempts:
                    raise ApiUnavailable(f"cannot reach the rnncast API at {self.base_url}: {exc}") from None
                time.sleep(0.2 * 2**attempt)
            except httpx.TimeoutException as exc:
                raise ApiUnavailable(f"the rnncast API at {self.base_url} timed out: {exc}") from None
            except httpx.TransportError as exc:
                raise ApiUnavailable(f"cannot talk to the rnncast API at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise self._error(response)
        return response

    @staticmethod
    def _error(response: httpx.Response) -> RnncastError:
        body = None
        try:
            body = response.json()
            detail = body.get("detail")
        except (ValueError, AttributeError):
            body, detail = None, response.text[:200]
        kind = _BY_STATUS.get(response.status_code, RnncastError)
        return kind(f"{response.status_code}: {describe(detail)}", status=response.status_code, detail=detail,
                    body=body if isinstance(body, dict) else None)

    def _get(self, path: str, model: type[T], **params: Any) -> T:
        clean = {k: v for k, v in params.items() if v is not None}
        return model.model_validate(self._request("GET", path, retry=True, params=clean).json())

    def _submit(self, path: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        result: dict[str, Any] = self._request("POST", path, retry=True, json=body, headers=headers).json()
        return result

    # Health -----------------------------------------------------------------

    def ready(self) -> dict[str, Any]:
        """Readiness ({"redis", "workers"}); raises ApiUnavailable when not ready."""
        result: dict[str, Any] = self._request("GET", "/readyz", retry=True).json()
        return result

    def live_workers(self, queue: str = "train") -> int | None:
        """The live workers `/readyz` counts on `queue` (all live workers from a server that does not count per
        queue; it answers 503 with `workers: 0` when there are none); None when it cannot say (Redis or the API
        unreachable)."""
        try:
            body = self._http.get("/readyz").json()
            if body.get("redis") != "ok":
                return None
            return int(body["queues"].get(queue, 0)) if "queues" in body else int(body["workers"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            return None

    # Jobs -------------------------------------------------------------------

    def train(
        self, cell: str, *, seed: int | None = 0, idempotency_key: str | None = None, **options: Any
    ) -> Job:
        """Submit a training job (options as in POST /v1/jobs; None means the server's default).

        Args:
            seed: None lets the server pick a random seed (recorded in `params`).
        """
        body = {"cell": cell, "seed": seed, **job_fields(options)}
        return Job.model_validate(self._submit("/v1/jobs", body, idempotency_key))

    def job(self, job_id: str) -> Job:
        return self._get(f"/v1/jobs/{job_id}", Job)

    def jobs(self, *, status: str | None = None, limit: int = LIST_PAGE, offset: int = 0, **filters: Any) -> JobPage:
        """Jobs newest first; `filters`: name, tag (a list: every one of them), cell, dataset."""
        return self._get("/v1/jobs", JobPage, status=status, limit=limit, offset=offset, **list_filters(filters))

    def cancel(self, job_id: str) -> Job:
        """Cancel a job (a running one stops within one epoch); Conflict if it already ended."""
        return Job.model_validate(self._request("POST", f"/v1/jobs/{job_id}/cancel", retry=True).json())

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's Server-Sent Events as (event, data) pairs, until its final status.

        A stream the server ends early (RNNCAST_EVENT_STREAM_MAX_S) is resumed
        where it stopped, with Last-Event-ID.
        """
        last_id: str | None = None
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            with self._http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers,
                                   timeout=httpx.Timeout(30, read=None)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise self._error(r)
                name = "message"
                for line in r.iter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:].strip())
                        yield name, data
                        if name == "status" and data.get("status") in FINAL:
                            return
                    elif not line:
                        name = "message"

    def wait(
        self, job_id: str, *, on_progress: Callable[[EpochEvent], None] | None = None,
        poll_interval: float = 1.0, timeout: float | None = None,
    ) -> Job:
        """Follow a job to its end (SSE, else polling); raise JobFailed/JobCancelled if it did not succeed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        try:
            for name, data in self.events(job_id):
                if name == "epoch":
                    if on_progress is not None and data["epoch"] > seen:
                        on_progress(EpochEvent.model_validate(data))
                    seen = max(seen, data["epoch"])
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} did not finish within {timeout}s")
        except (httpx.HTTPError, ApiUnavailable):
            pass  # streaming not possible here: poll instead
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                history = job.history
                epochs = history.epoch or list(range(1, len(history.test_loss) + 1))
                for i, epoch in enumerate(epochs):
                    if epoch > seen:
                        on_progress(EpochEvent(epoch=epoch, epochs=job.progress.epochs or 0,
                                               train_loss=history.train_loss[i], test_loss=history.test_loss[i]))
                seen = max([seen, *epochs])
            if job.finished:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not finish within {timeout}s")
            time.sleep(poll_interval)
        if job.status == "failed":
            raise JobFailed(job)
        if job.status == "cancelled":
            raise JobCancelled(job)
        return job

    # Models -----------------------------------------------------------------

    def models(self, *, limit: int = LIST_PAGE, offset: int = 0, **filters: Any) -> ModelPage:
        """Models newest first; `filters`: name, tag (a list: every one of them), cell, dataset."""
        return self._get("/v1/models", ModelPage, limit=limit, offset=offset, **list_filters(filters))

    def model(self, model_id: str) -> Model:
        return self._get(f"/v1/models/{model_id}", Model)

    def delete_model(self, model_id: str) -> None:
        self._request("DELETE", f"/v1/models/{model_id}", retry=True)

    def delete_job(self, job_id: str) -> None:
        """Delete an ended job; its model stays. Conflict while it is queued or running."""
        self._request("DELETE", f"/v1/jobs/{job_id}", retry=True)

    def delete_comparison(self, comparison_id: str) -> None:
        """Delete an ended comparison and its runs' jobs; their models stay. Conflict while it runs."""
        self._request("DELETE", f"/v1/comparisons/{comparison_id}", retry=True)

    def forecast(
        self, model_id: str, *, start: float | None = None, horizon: int = FORECAST_HORIZON,
        context: Sequence[float] | None = None, origin: int | None = None, fallback: str | None = None,
        intervals: Sequence[float] | None = None,
    ) -> Forecast:
        """Continue a sine model from `start`, a dataset model from `origin`, or either from your `context`.

        With none of them, a sine model starts at the tutorial's start and a
        dataset model goes on from its series' end. `fallback="baseline"`: a
        model that lost its last backtest answers the best baseline's forecast.
        `intervals`: levels in (0, 1), e.g. [0.8, 0.95], for split-conformal
        prediction intervals.
        """
        if start is None and origin is None and context is None and self.model(model_id).params.get(
                "data", {}).get("kind", "sine") == "sine":
            start = FORECAST_START
        body: dict[str, Any] = {"horizon": horizon}
        for key, value in (("start", start), ("origin", origin)):
            if value is not None:
                body[key] = value
        if context is not None:
            body["context"] = list(context)
        if fallback is not None:
            body["fallback"] = fallback
        if intervals:
            body["intervals"] = list(intervals)
        r = self._request("POST", f"/v1/models/{model_id}/forecast", retry=True, json=body)
        return Forecast.model_validate(r.json())

    def forecast_png(
        self, model_id: str, *, start: float | None = None, horizon: int = FORECAST_HORIZON,
        origin: int | None = None, context: Sequence[float] | None = None, intervals: Sequence[float] | None = None,
    ) -> bytes:
        """The forecast figure, from `start`, `origin` or your `context` (as `forecast` takes them), with
        the `intervals` asked for as shaded bands."""
        params: dict[str, Any] = {k: v for k, v in (("start", start), ("origin", origin), ("horizon", horizon))
                                  if v is not None}
        if intervals:
            params["interval"] = list(intervals)
        if context is not None:
            params["context"] = ",".join(repr(float(v)) for v in context)
        return self._request("GET", f"/v1/models/{model_id}/forecast.png", retry=True, params=params).content

    def backtest(
        self, model_id: str, *, origins: int = BACKTEST_ORIGINS, horizon: int = BACKTEST_HORIZON,
        season: int | None = None, intervals: Sequence[float] | None = None,
    ) -> Backtest:
        """Rolling-origin evaluation over the model's test part, against naive, seasonal naive and seasonal naive
        with drift forecasts; `coverage` of the model's intervals at `intervals` (default 0.8 and 0.95)."""
        body = {"origins": origins, "horizon": horizon, "season": season,
                "intervals": list(intervals) if intervals else None}
        r = self._request("POST", f"/v1/models/{model_id}/backtest", retry=True, json=body)
        return Backtest.model_validate(r.json())

    def backtest_png(
        self, model_id: str, *, origins: int = BACKTEST_ORIGINS, horizon: int = BACKTEST_HORIZON,
        season: int | None = None,
    ) -> bytes:
        params = {k: v for k, v in (("origins", origins), ("horizon", horizon), ("season", season)) if v is not None}
        return self._request("GET", f"/v1/models/{model_id}/backtest.png", retry=True, params=params).content

    # Datasets -----------------------------------------------------------------

    def upload_dataset(
        self, path: str | Path, *, column: str | None = None, name: str | None = None, step: float | None = None,
        missing: str | None = None, tags: Sequence[str] = (),
    ) -> Dataset:
        """Upload a CSV file (multipart); `column` picks the value column (needed when there are several numeric
        ones), `missing` fills blank cells ('interpolate' or 'ffill'; refused by default)."""
        path = Path(path)
        params = {k: v for k, v in (("column", column), ("name", name), ("step", step), ("missing", missing),
                                                   ("tag", list(tags) or None)) if v is not None}
        with path.open("rb") as fh:
            r = self._request("POST", "/v1/datasets", retry=False, params=params,
                              files={"file": (path.name, fh, "text/csv")})
        return Dataset.model_validate(r.json())

    def create_dataset(self, name: str, values: Sequence[float], *, step: float = 1.0,
                       tags: Sequence[str] = ()) -> Dataset:
        """Store a series given as numbers."""
        body = {"name": name, "values": list(values), "step": step, "tags": list(tags)}
        return Dataset.model_validate(self._request("POST", "/v1/datasets", retry=False, json=body).json())

    def generate_dataset(self, generator: dict[str, Any], *, name: str | None = None,
                         tags: Sequence[str] = ()) -> Dataset:
        """A built-in signal as a dataset: {"kind": "sine" | "sines" | "damped_sine" | "random_walk", ...}."""
        body = {"generator": generator, "tags": list(tags), **({"name": name} if name else {})}
        return Dataset.model_validate(self._request("POST", "/v1/datasets", retry=False, json=body).json())

    def datasets(self, *, limit: int = LIST_PAGE, offset: int = 0, **filters: Any) -> DatasetPage:
        """Datasets newest first; `filters`: name, tag (a list: every one of them)."""
        return self._get("/v1/datasets", DatasetPage, limit=limit, offset=offset, **list_filters(filters))

    def dataset(self, dataset_id: str) -> Dataset:
        return self._get(f"/v1/datasets/{dataset_id}", Dataset)

    def dataset_values(self, dataset_id: str, *, offset: int = 0, limit: int = 1000) -> DatasetValues:
        return self._get(f"/v1/datasets/{dataset_id}/values", DatasetValues, offset=offset, limit=limit)

    def dataset_plot(self, dataset_id: str) -> bytes:
        return self._request("GET", f"/v1/datasets/{dataset_id}/plot.png", retry=True).content

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset; Conflict while a queued or running job trains on it (its models keep a copy)."""
        self._request("DELETE", f"/v1/datasets/{dataset_id}", retry=True)

    # Comparisons --------------------------------------------------------------

    def compare(
        self, *, cells: Sequence[str] = ("RNN", "LSTM", "GRU"), seeds: Sequence[int] = (0,),
        forecast_start: float = FORECAST_START, forecast_horizon: int = FORECAST_HORIZON, name: str | None = None,
        idempotency_key: str | None = None, forecast_origin: int | None = None, tags: Sequence[str] = (), **train: Any,
    ) -> Comparison:
        """Start a comparison: one job per (cell, seed); `train` takes the training-job options
        (`data={"dataset_id": ...}` trains every run on a dataset; their forecast then starts at
        `forecast_origin`, by default the test part's first position)."""
        spec: dict[str, Any] = {"start": forecast_start, "horizon": forecast_horizon}
        if forecast_origin is not None:
            spec["origin"] = forecast_origin
        body = {
            "cells": list(cells), "seeds": list(seeds), "name": name, "tags": list(tags),
            "train": job_fields(train), "forecast": spec,
        }
        return Comparison.model_validate(self._submit("/v1/comparisons", body, idempotency_key))

    def comparison(self, comparison_id: str) -> Comparison:
        return self._get(f"/v1/comparisons/{comparison_id}", Comparison)

    def comparisons(self, *, limit: int = VIEW_PAGE, offset: int = 0, **filters: Any) -> ComparisonPage:
        """Comparisons newest first; `filters`: name, tag (a list: every one of them), cell, dataset, status."""
        return self._get("/v1/comparisons", ComparisonPage, limit=limit, offset=offset, **list_filters(filters))

    def cancel_comparison(self, comparison_id: str) -> Comparison:
        r = self._request("POST", f"/v1/comparisons/{comparison_id}/cancel", retry=True)
        return Comparison.model_validate(r.json())

    def wait_comparison(
        self, comparison_id: str, *, on_update: Callable[[Comparison], None] | None = None,
        poll_interval: float = 1.0, timeout: float | None = None,
    ) -> Comparison:
        """Poll a comparison until it ends (whatever its final status)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            comparison = self.comparison(comparison_id)
            if on_update is not None:
                on_update(comparison)
            if comparison.finished:
                return comparison
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"comparison {comparison_id} did not finish within {timeout}s")
            time.sleep(poll_interval)

    # Searches -----------------------------------------------------------------

    def start_search(
        self, dataset_id: str, *, train_fraction: float | None = None, name: str | None = None,
        idempotency_key: str | None = None, **fields: Any,
    ) -> Search:
        """Start a search on a dataset: `fields` are the search's (epochs, patience, seed, max_candidates,
        refit, ensemble_seeds, backtest={"origins", "horizon"}); only those given are sent."""
        data: dict[str, Any] = {"dataset_id": dataset_id}
        if train_fraction is not None:
            data["train_fraction"] = train_fraction
        body = {"data": data, "name": name, **{k: v for k, v in fields.items() if v is not None}}
        return Search.model_validate(self._submit("/v1/searches", body, idempotency_key))

    def search(self, search_id: str) -> Search:
        return self._get(f"/v1/searches/{search_id}", Search)

    def searches(self, *, limit: int = VIEW_PAGE, offset: int = 0) -> SearchPage:
        return self._get("/v1/searches", SearchPage, limit=limit, offset=offset)

    def cancel_search(self, search_id: str) -> Search:
        r = self._request("POST", f"/v1/searches/{search_id}/cancel", retry=True)
        return Search.model_validate(r.json())

    def delete_search(self, search_id: str) -> None:
        """Delete an ended search and its candidates' jobs; their models and the refit comparison stay."""
        self._request("DELETE", f"/v1/searches/{search_id}", retry=True)

    def wait_search(
        self, search_id: str, *, on_update: Callable[[Search], None] | None = None,
        poll_interval: float = 1.0, timeout: float | None = None,
    ) -> Search:
        """Poll a search until it ends (its refit too)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = self.search(search_id)
            if on_update is not None:
                on_update(found)
            if found.finished:
                return found
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"search {search_id} did not finish within {timeout}s")
            time.sleep(poll_interval)

    def ensemble_forecast(
        self, comparison_id: str, *, start: float | None = None, horizon: int = FORECAST_HORIZON,
        context: Sequence[float] | None = None, origin: int | None = None, intervals: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """Per cell, the mean of its seeds' forecasts, a mean +- 2 std band, min and max, and each seed's error;
        with `intervals`, conformal intervals around the mean."""
        body: dict[str, Any] = {"horizon": horizon}
        body |= {k: v for k, v in (("start", start), ("origin", origin)) if v is not None}
        if context is not None:
            body["context"] = list(context)
        if intervals:
            body["intervals"] = list(intervals)
        result: dict[str, Any] = self._request("POST", f"/v1/comparisons/{comparison_id}/forecast", retry=True,
                                               json=body).json()
        return result

    def ensemble_png(self, comparison_id: str, *, start: float | None = None, horizon: int = FORECAST_HORIZON,
                     origin: int | None = None, intervals: Sequence[float] | None = None) -> bytes:
        params: dict[str, Any] = {k: v for k, v in (("start", start), ("origin", origin), ("horizon", horizon))
                                  if v is not None}
        if intervals:
            params["interval"] = list(intervals)
        return self._request("GET", f"/v1/comparisons/{comparison_id}/forecast.png", retry=True,
                             params=params).content

    def comparison_plots(self, comparison_id: str) -> dict[str, bytes]:
        """{"loss": PNG bytes, "predictions": PNG bytes} (partial while it runs)."""
        return {
            kind: self._request("GET", f"/v1/comparisons/{comparison_id}/{kind}.png", retry=True).content
            for kind in ("loss", "predictions")
        }
