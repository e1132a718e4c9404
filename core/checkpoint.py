"""Checkpoints: safetensors weights plus a JSON manifest, no pickle anywhere.

A checkpoint named `name` in a folder is two files: `name-<digest>.safetensors`
(model weights, optimizer moments, RNG state) and `name.json` (configs, epoch,
history, metrics, the tensor file's name, sha256 and size). The tensor file is
written first under a fresh name, then the manifest is replaced atomically, so
a failed or interrupted write always leaves the previous checkpoint loadable.
Loading refuses a tensor file whose digest differs from the manifest's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from rnncast.common.files import atomic_write
from rnncast.core.config import AnyData, ModelConfig, TrainConfig, data_config
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam
from rnncast.core.series import Scaler

FORMAT = "rnncast-checkpoint"
VERSION = 1
SERIES = "data.series"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or does not match its digest."""


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a checkpoint's tensors lie and how to verify them."""

    path: Path
    sha256: str
    bytes: int


@dataclass
class Checkpoint:
    """Everything needed to rebuild a model, or resume its training."""

    model: ModelConfig
    data: AnyData
    train: TrainConfig
    epoch: int
    history: dict[str, list[Any]]
    tensors: dict[str, torch.Tensor]
    optimizer_groups: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    info: CheckpointInfo | None = None
    scaler: Scaler | None = None  # a dataset model's standardisation

    @property
    def series(self) -> np.ndarray | None:
        """The dataset's values a dataset model keeps (to forecast and backtest without the dataset)."""
        values = self.tensors.get(SERIES)
        return values.numpy() if values is not None else None

    def build_model(self, device: torch.device | str = "cpu") -> Forecaster:
        """The model with this checkpoint's weights, in eval mode."""
        model = Forecaster(self.model)
        weights = {k[len("model.") :]: v for k, v in self.tensors.items() if k.startswith("model.")}
        try:
            model.load_state_dict(weights)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint weights do not fit its model config: {exc}") from None
        return model.to(device).eval()

    def restore_optimizer(self, optimizer: Adam) -> None:
        """Load the saved optimizer moments into `optimizer` (same parameters)."""
        if self.optimizer_groups is None:
            raise CheckpointError("checkpoint holds no optimizer state")
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in self.tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": self.optimizer_groups})

    def rng_state(self) -> torch.Tensor | None:
        return self.tensors.get("rng.cpu")

    def best_weights(self) -> dict[str, torch.Tensor] | None:
        """The best epoch's weights a run tracking them saved (early stopping, restore_best)."""
        best = {k[len("best.") :]: v for k, v in self.tensors.items() if k.startswith("best.")}
        return best or None


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise CheckpointError(f"checkpoint name ({name!r}) must be letters, digits, '_', '-' or '.'")


def save_checkpoint(
    directory: Path,
    name: str,
    *,
    model: Forecaster,
    data: AnyData,
    train: TrainConfig,
    epoch: int,
    history: dict[str, list[Any]],
    optimizer: Adam | None = None,
    extra: dict[str, Any] | None = None,
    series: np.ndarray | None = None,
    scaler: Scaler | None = None,
    best: dict[str, torch.Tensor] | None = None,
) -> CheckpointInfo:
    """Save `model` (and optionally optimizer and RNG state) atomically.

    Args:
        directory: created if missing.
        name: the manifest is `directory/name.json`.
        extra: JSON-serialisable facts to keep alongside (metrics, ids...).
        series, scaler: a dataset model's own copy of its series (float64) and
            its standardisation: it forecasts without the dataset.
        best: the best epoch's weights, for a resumed run that tracks them.
    """
    _check_name(name)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    groups = None
    if optimizer is not None:
        opt_state = optimizer.state_dict()
        for index, moments in opt_state["state"].items():
            for key, value in moments.items():
                tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        groups = opt_state["param_groups"]
        tensors["rng.cpu"] = torch.get_rng_state()
    if series is not None:
        tensors[SERIES] = torch.from_numpy(np.ascontiguousarray(series, dtype=np.float64))
    for key, value in (best or {}).items():
        tensors[f"best.{key}"] = value.detach().cpu().contiguous()
    payload = st_save(tensors, metadata={"format": FORMAT})
    digest = hashlib.sha256(payload).hexdigest()
    tensor_file = directory / f"{name}-{digest[:16]}.safetensors"
    atomic_write(tensor_file, payload)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "file": tensor_file.name,
        "sha256": digest,
        "bytes": len(payload),
        "model": model.config.to_dict(),
        "data": data.to_dict(),
        "train": train.to_dict(),
        "epoch": epoch,
        "history": history,
        "optimizer_groups": groups,
        "extra": extra or {},
        "scaler": scaler.to_dict() if scaler is not None else None,
    }
    atomic_write(directory / f"{name}.json", json.dumps(manifest).encode())
    # Older tensor files of this checkpoint are no longer referenced.
    for old in directory.glob(f"{name}-*.safetensors"):
        if old.name != tensor_file.name:
            with contextlib.suppress(OSError):
                old.unlink()
    return CheckpointInfo(tensor_file, digest, len(payload))


def checkpoint_exists(directory: Path, name: str) -> bool:
    _check_name(name)
    return (directory / f"{name}.json").is_file()


def load_checkpoint(directory: Path, name: str) -> Checkpoint:
    """Load and verify a checkpoint; raise CheckpointError if it is unusable."""
    _check_name(name)
    manifest_path = directory / f"{name}.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {name!r} not found") from None
    except OSError as exc:  # strerror: the message must not carry the file's path to an API client
        raise CheckpointError(f"checkpoint {name!r} manifest is unreadable: {exc.strerror}") from None
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {name!r} manifest is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {name!r} manifest is not an rnncast checkpoint")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version ({manifest.get('version')}) is not {VERSION}")
    file_name = manifest.get("file")
    if not isinstance(file_name, str) or not _NAME.match(file_name):
        raise CheckpointError(f"checkpoint {name!r} names a bad tensor file ({file_name!r})")
    try:
        payload = (directory / file_name).read_bytes()
    except OSError:
        raise CheckpointError(f"checkpoint {name!r} tensor file is missing") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != manifest.get("sha256") or len(payload) != manifest.get("bytes"):
        raise CheckpointError(
            f"checkpoint {name!r} does not match its digest: the file was truncated or changed"
        )
    try:
        tensors = st_load(payload)
        ckpt = Checkpoint(
            model=ModelConfig.from_dict(manifest["model"]),
            data=data_config(manifest["data"]),
            train=TrainConfig.from_dict(manifest["train"]),
            epoch=int(manifest["epoch"]),
            history=_history(manifest["history"]),
            tensors=tensors,
            optimizer_groups=manifest.get("optimizer_groups"),
            extra=dict(manifest.get("extra") or {}),
            info=CheckpointInfo(directory / file_name, digest, len(payload)),
            scaler=Scaler(**manifest["scaler"]) if manifest.get("scaler") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {name!r} metadata is invalid: {exc}") from None
    return ckpt


def _history(raw: dict[str, Any]) -> dict[str, list[Any]]:
    """Losses per epoch (and, when recorded, the rate and the probe; a probe may be null)."""
    out: dict[str, list[Any]] = {k: [float(v) for v in raw[k]] for k in ("train_loss", "test_loss")}
    for key in ("lr", "probe"):
        if key in raw:
            out[key] = [None if v is None else float(v) for v in raw[key]]
    return out


def delete_checkpoint(directory: Path, name: str) -> None:
    """Remove a checkpoint's manifest and tensor files, if present."""
    _check_name(name)
    with contextlib.suppress(FileNotFoundError):
        (directory / f"{name}.json").unlink()
    for path in directory.glob(f"{name}-*.safetensors"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
