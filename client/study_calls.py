"""The client's studies: comparisons (their ensembles and figures) and searches."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from rnncast.client.fields import job_fields
from rnncast.client.labels import list_filters
from rnncast.client.transport import Transport
from rnncast.client.types import Comparison, ComparisonPage, Search, SearchPage
from rnncast.common.defaults import FORECAST_HORIZON, FORECAST_START, VIEW_PAGE


class _Finishes(Protocol):
    @property
    def finished(self) -> bool: ...


S = TypeVar("S", bound=_Finishes)


def _poll(read: Callable[[], S], what: str, on_update: Callable[[S], None] | None, poll_interval: float,
          timeout: float | None) -> S:
    """`read()` every `poll_interval` s until what it reads has finished (`on_update` told each time)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        found = read()
        if on_update is not None:
            on_update(found)
        if found.finished:
            return found
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout}s")
        time.sleep(poll_interval)


class StudyCalls(Transport):
    """`/v1/comparisons` and `/v1/searches` as methods."""

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
        return _poll(lambda: self.comparison(comparison_id), f"comparison {comparison_id}", on_update, poll_interval,
                     timeout)

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
        return _poll(lambda: self.search(search_id), f"search {search_id}", on_update, poll_interval, timeout)

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
