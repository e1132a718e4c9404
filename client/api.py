"""`Client`: typed access to every rnncast endpoint over httpx (no torch, no server code)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from rnncast.client.aliases import AliasCalls
from rnncast.client.dataset_calls import DatasetCalls
from rnncast.client.errors import (
    ApiUnavailable,
    JobCancelled,
    JobFailed,
)
from rnncast.client.fields import job_fields
from rnncast.client.labels import LabelCalls, list_filters
from rnncast.client.sessions import SessionCalls
from rnncast.client.study_calls import StudyCalls
from rnncast.client.transfer import TransferCalls
from rnncast.client.types import (
    FINAL,
    Backtest,
    EpochEvent,
    Forecast,
    Job,
    JobPage,
    Model,
    ModelPage,
)
from rnncast.client.webhooks import WebhookCalls
from rnncast.common.defaults import (
    BACKTEST_HORIZON,
    BACKTEST_ORIGINS,
    FORECAST_HORIZON,
    FORECAST_START,
    LIST_PAGE,
)


class Client(DatasetCalls, StudyCalls, WebhookCalls, AliasCalls, TransferCalls, SessionCalls, LabelCalls):
    """An rnncast API client; use it as a context manager to close its connections. It takes `Transport`'s
    arguments (client.transport: base_url, api_key, timeout, retries, transport). Health, jobs and models are
    here; the other calls are grouped by resource in its bases, each a `Transport`."""

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
