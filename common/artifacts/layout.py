"""Where jobs' checkpoints, models' files and datasets lie in the artifact store (key folders)."""

from __future__ import annotations

from rnncast.common.artifacts.base import ArtifactStore
from rnncast.common.values import is_id


def _folder(kind: str, object_id: str) -> str:
    if not is_id(object_id):
        raise ValueError(f"{kind[:-1]} id ({object_id!r}) is malformed")
    return f"{kind}/{object_id}"


def job_prefix(job_id: str) -> str:
    """Resume checkpoints of a training job."""
    return _folder("jobs", job_id)


def remove_job_files(artifacts: ArtifactStore, job_ids: list[str]) -> None:
    """Delete deleted jobs' checkpoint files (their models' files stay)."""
    for job_id in job_ids:
        artifacts.delete_prefix(job_prefix(job_id))


def model_prefix(model_id: str) -> str:
    """A trained model's safetensors file and manifest."""
    return _folder("models", model_id)


def remove_model_files(artifacts: ArtifactStore, model_id: str) -> None:
    """Delete a model's files."""
    artifacts.delete_prefix(model_prefix(model_id))


def dataset_prefix(dataset_id: str) -> str:
    """A dataset's values (.npy) and metadata (JSON)."""
    return _folder("datasets", dataset_id)
