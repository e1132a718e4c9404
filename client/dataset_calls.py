"""The client's datasets: upload a CSV, store values or a generated signal, list, read, plot, delete."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnncast.client.labels import list_filters
from rnncast.client.transport import Transport
from rnncast.client.types import Dataset, DatasetPage, DatasetValues
from rnncast.common.defaults import LIST_PAGE


class DatasetCalls(Transport):
    """`/v1/datasets` as methods."""

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
