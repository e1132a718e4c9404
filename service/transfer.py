"""A model's way out of the service and into another: the record of an imported model, the export's headers."""

from __future__ import annotations

import math
from typing import Any, Literal

from rnncast.common.model_package import Package
from rnncast.common.options import ModelOptions, TrainOptions, data_options
from rnncast.common.values import now_iso

ExportFormat = Literal["safetensors", "onnx"]
EXPORT_HELP = ("safetensors: a zip of the checkpoint's manifest.json, model.safetensors and SHA256SUMS (what "
               "POST /v1/models imports); onnx: the cell as one step with its states as inputs and outputs, checked "
               "against the service's forecast when exported (runs on a predict worker with the `export` extra)")
IMPORT_MEDIA = ("application/zip", "application/x-zip-compressed", "application/octet-stream")


def _loss(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def import_record(model_id: str, package: Package, verified: dict[str, Any]) -> dict[str, Any]:
    """The record of an imported checkpoint (its manifest checked by common.model_package, loaded by a worker:
    `verified` holds its parameter count and calibration summary). It has no job here: `job_id` is null and
    `imported` says where it came from."""
    manifest = package.manifest
    model = ModelOptions.from_dict(manifest["model"])
    extra: dict[str, Any] = manifest["extra"] if isinstance(manifest.get("extra"), dict) else {}
    metrics: dict[str, Any] = extra["metrics"] if isinstance(extra.get("metrics"), dict) else {}
    source = extra.get("job_id")
    record: dict[str, Any] = {
        "id": model_id, "job_id": None, "cell": model.cell,
        "params": {**model.to_dict(), **TrainOptions.from_dict(manifest["train"]).to_dict(),
                   "data": data_options(manifest["data"]).to_dict()},
        "metrics": {"train_loss": _loss(metrics.get("train_loss")), "test_loss": _loss(metrics.get("test_loss"))},
        "epochs_trained": int(manifest["epoch"]), "best_epoch": None, "parameters": int(verified["parameters"]),
        "device": "imported", "created_at": now_iso(),
        "checkpoint": {"format": "safetensors", "sha256": manifest["sha256"], "bytes": int(manifest["bytes"])},
        "calibration": verified.get("calibration"),
        "imported": {"source_model_id": source if isinstance(source, str) else None,
                     "manifest_sha256": package.manifest_sha256},
    }
    if isinstance(manifest.get("scaler"), dict):
        record["scaler"] = manifest["scaler"]
    return record


def export_headers(model_id: str, suffix: str, digests: dict[str, str]) -> dict[str, str]:
    """A download's name and the digests a user checks it with (`X-Rnncast-<Name>`)."""
    return {"Content-Disposition": f'attachment; filename="rnncast-{model_id}.{suffix}"',
            **{f"X-Rnncast-{name}": value for name, value in digests.items()}}
