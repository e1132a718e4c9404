"""Where jobs' checkpoints, models' files and datasets lie in the artifact store (key folders)."""

from __future__ import annotations

import json
from typing import Any

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


# A model's checkpoint in its folder: `model.json` (the manifest) naming `model-<digest>.safetensors` (core.checkpoint).
MODEL_CHECKPOINT = "model"


def read_model_files(artifacts: ArtifactStore, model_id: str, sha256: str) -> tuple[bytes, bytes]:
    """A model's manifest and tensor file as stored, the tensors checked against `sha256` (its record's digest).

    Raises ArtifactMissing, ArtifactCorrupt (a tensor file that does not match), ValueError (a manifest that
    names no tensor file).
    """
    folder = artifacts.at(model_prefix(model_id))
    manifest = folder.get(f"{MODEL_CHECKPOINT}.json")
    name = json.loads(manifest).get("file")
    if not isinstance(name, str) or "/" in name:
        raise ValueError(f"model {model_id!r} manifest names no tensor file")
    return manifest, folder.get(name, sha256)


def write_model_files(artifacts: ArtifactStore, model_id: str, manifest: dict[str, Any], tensors: bytes) -> None:
    """Store an imported checkpoint as a trained model's is stored: the tensor file first, then the manifest that
    names it (`manifest["sha256"]` is the tensor file's digest, checked by the caller)."""
    folder = artifacts.at(model_prefix(model_id))
    name = f"{MODEL_CHECKPOINT}-{manifest['sha256'][:16]}.safetensors"
    folder.put(name, tensors)
    folder.put(f"{MODEL_CHECKPOINT}.json", json.dumps(manifest | {"file": name}).encode())
