"""Where jobs' checkpoints, models' files and datasets lie in the artifact store (key folders)."""

from __future__ import annotations

from rnncast.common.store import is_id


def _folder(kind: str, object_id: str) -> str:
    if not is_id(object_id):
        raise ValueError(f"{kind[:-1]} id ({object_id!r}) is malformed")
    return f"{kind}/{object_id}"


def job_prefix(job_id: str) -> str:
    """Resume checkpoints of a training job."""
    return _folder("jobs", job_id)


def model_prefix(model_id: str) -> str:
    """A trained model's safetensors file and manifest."""
    return _folder("models", model_id)


def dataset_prefix(dataset_id: str) -> str:
    """A dataset's values (.npy) and metadata (JSON)."""
    return _folder("datasets", dataset_id)
