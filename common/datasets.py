"""Datasets in the artifact store: the values as a .npy object (no pickle) and their metadata as JSON.

The API writes them (uploads arrive there); workers read them to train.
Redis holds the record (common.store.dataset_ops); the store holds the data.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np

from rnncast.common.artifacts import ArtifactCorrupt, ArtifactMissing, ArtifactStore
from rnncast.common.artifacts.layout import dataset_prefix
from rnncast.common.series import stats
from rnncast.common.timeaxis import TimeAxis
from rnncast.common.values import now_iso

VALUES_FILE = "values.npy"
META_FILE = "meta.json"
TIMES_FILE = "timestamps.npy"


class DatasetUnavailable(Exception):
    """A dataset's files are missing, or do not match the digest recorded for them."""


def digest(values: np.ndarray) -> str:
    """sha256 of the values as little-endian float64: the same numbers give the same digest anywhere."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


def dataset_record(
    dataset_id: str, name: str, values: np.ndarray, step: float, source: dict[str, Any], axis: TimeAxis | None = None,
) -> dict[str, Any]:
    """The public record of a new dataset (with its time axis: frequency, first and last timestamps)."""
    record = {
        "id": dataset_id, "name": name, "length": int(values.shape[0]), "step": step, "sha256": digest(values),
        "stats": stats(values), "source": source, "created_at": now_iso(),
    }
    if axis is not None:
        record |= {"frequency": axis.frequency, "start": axis.at(0).isoformat(),
                   "end": axis.at(values.shape[0] - 1).isoformat(), "month_end": axis.month_end}
    return record


def record_axis(record: dict[str, Any]) -> TimeAxis | None:
    """The time axis a dataset's record (or a model's `data` params) states, if any."""
    if not record.get("frequency") or not record.get("start"):
        return None
    return TimeAxis.from_dict(record)


def _values_key(dataset_id: str) -> str:
    return f"{dataset_prefix(dataset_id)}/{VALUES_FILE}"


def values_present(store: ArtifactStore, dataset_id: str) -> bool:
    """Whether the dataset's values file is in the store (a record whose file is gone cannot train)."""
    return store.exists(_values_key(dataset_id))


def write_dataset(store: ArtifactStore, record: dict[str, Any], values: np.ndarray) -> None:
    """The values (and their timestamps, as datetime64 seconds) first, then the metadata that vouches for them."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(values, dtype="<f8"), allow_pickle=False)
    store.put(_values_key(record["id"]), buf.getvalue())
    axis = record_axis(record)
    if axis is not None:  # as written (a time zone's offset is in the record's start), to the second
        times = np.array([axis.at(p).replace(tzinfo=None) for p in range(values.shape[0])], dtype="datetime64[s]")
        buf = io.BytesIO()
        np.save(buf, times, allow_pickle=False)
        store.put(f"{dataset_prefix(record['id'])}/{TIMES_FILE}", buf.getvalue())
    store.put(f"{dataset_prefix(record['id'])}/{META_FILE}", json.dumps(record).encode())


def _series(dataset_id: str, shape: tuple[int, ...], fortran: bool, dtype: np.dtype[Any]) -> None:
    if fortran or len(shape) != 1 or dtype.str != "<f8":
        raise DatasetUnavailable(f"dataset {dataset_id!r}: its values file is not a float64 series")


def load_values(store: ArtifactStore, dataset_id: str, sha256: str) -> np.ndarray:
    """The whole series, checked against the digest recorded when it was stored."""
    try:
        raw = store.get(_values_key(dataset_id))
        values = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ArtifactMissing, ArtifactCorrupt, ValueError):
        raise DatasetUnavailable(f"dataset {dataset_id!r} has no readable values file") from None
    _series(dataset_id, values.shape, False, values.dtype)
    if digest(values) != sha256:
        raise DatasetUnavailable(f"dataset {dataset_id!r} does not match its digest: its file was changed")
    return values


HEADER_BYTES = 4096  # np.save writes a header of 128 bytes for a 1-D array; this leaves room


def read_slice(store: ArtifactStore, dataset_id: str, offset: int, limit: int) -> list[float]:
    """Values [offset, offset + limit) without reading the rest of the object (a ranged read)."""
    key = _values_key(dataset_id)
    try:
        head = io.BytesIO(store.get_range(key, 0, HEADER_BYTES))
        major, _ = np.lib.format.read_magic(head)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(head)
    except (ArtifactMissing, ValueError):
        raise DatasetUnavailable(f"dataset {dataset_id!r} has no readable values file") from None
    _series(dataset_id, shape, fortran, dtype)
    start, stop = min(offset, shape[0]), min(offset + limit, shape[0])
    raw = store.get_range(key, head.tell() + 8 * start, 8 * (stop - start))
    return np.frombuffer(raw, dtype="<f8").tolist()


def remove_dataset(store: ArtifactStore, dataset_id: str) -> None:
    store.delete_prefix(dataset_prefix(dataset_id))
