"""Datasets on disk: the values as a .npy file (no pickle) and their metadata as JSON, both written atomically.

The API writes them (uploads arrive there); workers read them to train.
Redis holds the record (common.store.dataset_ops); the files hold the data.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from rnncast.common.files import atomic_write
from rnncast.common.paths import dataset_dir
from rnncast.common.store.clock import now_iso
from rnncast.core.series import stats

VALUES_FILE = "values.npy"
META_FILE = "meta.json"


class DatasetUnavailable(Exception):
    """A dataset's files are missing, or do not match the digest recorded for them."""


def digest(values: np.ndarray) -> str:
    """sha256 of the values as little-endian float64: the same numbers give the same digest anywhere."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


def dataset_record(
    dataset_id: str, name: str, values: np.ndarray, step: float, source: dict[str, Any],
) -> dict[str, Any]:
    """The public record of a new dataset."""
    return {
        "id": dataset_id, "name": name, "length": int(values.shape[0]), "step": step, "sha256": digest(values),
        "stats": stats(values), "source": source, "created_at": now_iso(),
    }


def write_dataset(data_dir: Path, record: dict[str, Any], values: np.ndarray) -> None:
    """The values file first, then the metadata that vouches for it."""
    directory = dataset_dir(data_dir, record["id"])
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(values, dtype="<f8"), allow_pickle=False)
    atomic_write(directory / VALUES_FILE, buf.getvalue())
    atomic_write(directory / META_FILE, json.dumps(record).encode())


def _open(data_dir: Path, dataset_id: str) -> np.ndarray:
    try:
        values = np.load(dataset_dir(data_dir, dataset_id) / VALUES_FILE, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        raise DatasetUnavailable(f"dataset {dataset_id!r} has no readable values file") from None
    if values.ndim != 1 or values.dtype != np.dtype("<f8"):
        raise DatasetUnavailable(f"dataset {dataset_id!r}: its values file is not a float64 series")
    return values


def load_values(data_dir: Path, dataset_id: str, sha256: str) -> np.ndarray:
    """The whole series, checked against the digest recorded when it was stored."""
    values = np.array(_open(data_dir, dataset_id))
    if digest(values) != sha256:
        raise DatasetUnavailable(f"dataset {dataset_id!r} does not match its digest: its file was changed")
    return values


def read_slice(data_dir: Path, dataset_id: str, offset: int, limit: int) -> list[float]:
    """Values [offset, offset + limit) without reading the rest of the file."""
    return np.array(_open(data_dir, dataset_id)[offset : offset + limit]).tolist()


def remove_dataset(data_dir: Path, dataset_id: str) -> None:
    shutil.rmtree(dataset_dir(data_dir, dataset_id), ignore_errors=True)
