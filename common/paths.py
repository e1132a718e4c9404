"""Where jobs' checkpoints, models' files and datasets lie under RNNCAST_DATA_DIR."""

from __future__ import annotations

from pathlib import Path

from rnncast.common.store import is_id


def _inside(root: Path, *parts: str) -> Path:
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise ValueError("path escapes the data directory")
    return path


def job_dir(data_dir: Path, job_id: str) -> Path:
    """Resume checkpoints of a training job."""
    if not is_id(job_id):
        raise ValueError(f"job id ({job_id!r}) is malformed")
    return _inside(data_dir, "jobs", job_id)


def model_dir(data_dir: Path, model_id: str) -> Path:
    """A trained model's safetensors file and manifest."""
    if not is_id(model_id):
        raise ValueError(f"model id ({model_id!r}) is malformed")
    return _inside(data_dir, "models", model_id)


def dataset_dir(data_dir: Path, dataset_id: str) -> Path:
    """A dataset's values (.npy) and metadata (JSON)."""
    if not is_id(dataset_id):
        raise ValueError(f"dataset id ({dataset_id!r}) is malformed")
    return _inside(data_dir, "datasets", dataset_id)
