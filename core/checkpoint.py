"""Checkpoints: safetensors weights plus a JSON manifest, no pickle anywhere.

A checkpoint named `name` in a store (a folder of a local disk or of S3:
`Blobs`) is two objects: `name-<digest>.safetensors` (model weights, optimizer
moments, RNG state) and `name.json` (configs, epoch, history, metrics, the
tensor file's name, sha256 and size). The tensor file is written first under a
fresh name, then the manifest is replaced atomically, so a failed or
interrupted write always leaves the previous checkpoint loadable. Loading
refuses a tensor file whose digest differs from the manifest's.

Saving is two steps, `pack_checkpoint` (a snapshot in memory, on the caller's
thread) and `write_checkpoint` (to the store, on any thread), so a trainer can
write off its loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from rnncast.common.options import AnyData, ModelOptions, TrainOptions, data_options
from rnncast.common.series import Scaler
from rnncast.core.models import Forecaster
from rnncast.core.optim import Adam
from rnncast.core.transform import Transform, axis_of

FORMAT = "rnncast-checkpoint"
VERSION = 1
SERIES = "data.series"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or does not match its digest."""


class Blobs(Protocol):
    """What checkpoints need of a store (common.artifacts' stores, or one's `at(folder)`, are ones).

    `get` raises FileNotFoundError for a missing key and ValueError for bytes
    that do not match `sha256`; other errors (an unreachable store) pass through.
    """

    def put(self, key: str, data: bytes) -> Any: ...
    def get(self, key: str, sha256: str | None = None) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a checkpoint's tensors lie (their key in the store) and how to verify them."""

    key: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Packed:
    """A checkpoint in memory, ready to write: its tensor file's bytes and its manifest's, both
    serialised when packed (the trainer's live objects may change while a writer writes)."""

    name: str
    file: str
    sha256: str
    payload: bytes
    manifest: bytes


@dataclass
class Checkpoint:
    """Everything needed to rebuild a model, or resume its training."""

    model: ModelOptions
    data: AnyData
    train: TrainOptions
    epoch: int
    history: dict[str, list[Any]]
    tensors: dict[str, torch.Tensor]
    optimizer_groups: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    info: CheckpointInfo | None = None
    scaler: Scaler | None = None  # a dataset model's scaling
    lag: int = 0  # a dataset model's differencing (0: none)
    covariates: tuple[str, ...] = ()  # a dataset model's covariate features (common.covariates)
    trend_scale: float = 1.0

    @property
    def transform(self) -> Transform:
        """How the model reads its series' values (core.transform); a checkpoint saved before differencing
        existed has its scaler alone, one saved before covariates none."""
        axis = axis_of(self.data) if self.covariates else None
        return Transform(self.lag, self.scaler, self.covariates, axis, self.trend_scale)

    @property
    def series(self) -> np.ndarray | None:
        """The dataset's values a dataset model keeps (to forecast and backtest without the dataset)."""
        values = self.tensors.get(SERIES)
        return values.numpy() if values is not None else None

    def build_model(self, device: torch.device | str = "cpu") -> Forecaster:
        """The model with this checkpoint's weights, in eval mode."""
        model = Forecaster(self.model, self.transform.inputs)
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


def pack_checkpoint(
    name: str,
    *,
    model: Forecaster,
    data: AnyData,
    train: TrainOptions,
    epoch: int,
    history: dict[str, list[Any]],
    optimizer: Adam | None = None,
    extra: dict[str, Any] | None = None,
    series: np.ndarray | None = None,
    scaler: Scaler | None = None,
    best: dict[str, torch.Tensor] | None = None,
    transform: Transform | None = None,
) -> Packed:
    """A snapshot of `model` (and optionally optimizer and RNG state), copied out of the live objects.

    Args:
        name: the manifest is `name.json`.
        extra: JSON-serialisable facts to keep alongside (metrics, ids...).
        series, transform: a dataset model's own copy of its series (float64) and
            its differencing and scaling: it forecasts without the dataset (`scaler`
            alone: no differencing).
        best: the best epoch's weights, for a resumed run that tracks them.
    """
    _check_name(name)
    if transform is not None:
        scaler = transform.scaler
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
    file = f"{name}-{digest[:16]}.safetensors"
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "file": file,
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
        **({"transform": transform.manifest()} if transform is not None and transform.manifest() else {}),
    }
    return Packed(name, file, digest, payload, json.dumps(manifest).encode())


def _stale(store: Blobs, name: str, keep: str | None = None) -> list[str]:
    """The tensor files of checkpoint `name` but `keep`."""
    return [key for key in store.list("") if key.startswith(f"{name}-") and key.endswith(".safetensors")
            and key != keep]


def write_checkpoint(store: Blobs, packed: Packed) -> CheckpointInfo:
    """Write the tensor file, then replace the manifest; then drop tensor files no manifest names."""
    store.put(packed.file, packed.payload)
    store.put(f"{packed.name}.json", packed.manifest)
    for old in _stale(store, packed.name, keep=packed.file):
        with contextlib.suppress(FileNotFoundError):
            store.delete(old)
    return CheckpointInfo(packed.file, packed.sha256, len(packed.payload))


def save_checkpoint(store: Blobs, name: str, **snapshot: Any) -> CheckpointInfo:
    """`pack_checkpoint(name, **snapshot)`, written at once."""
    return write_checkpoint(store, pack_checkpoint(name, **snapshot))


def checkpoint_exists(store: Blobs, name: str) -> bool:
    _check_name(name)
    return store.exists(f"{name}.json")


def load_checkpoint(store: Blobs, name: str) -> Checkpoint:
    """Load and verify a checkpoint; raise CheckpointError if it is unusable.

    Errors of the store itself (unreachable) pass through: the checkpoint may be fine.
    """
    _check_name(name)
    try:
        raw = store.get(f"{name}.json")
        manifest = json.loads(raw)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {name!r} not found") from None
    except ValueError as exc:
        # The store's own refusal (a digest) names its key: only the JSON's error is quoted.
        reason = str(exc) if isinstance(exc, json.JSONDecodeError) else "it does not match its digest"
        raise CheckpointError(f"checkpoint {name!r} manifest is unreadable: {reason}") from None
    except OSError as exc:
        if isinstance(exc, ConnectionError):
            raise
        # strerror: the message must not carry the file's path to an API client
        raise CheckpointError(f"checkpoint {name!r} manifest is unreadable: {exc.strerror}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {name!r} manifest is not an rnncast checkpoint")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version ({manifest.get('version')}) is not {VERSION}")
    file_name = manifest.get("file")
    if not isinstance(file_name, str) or not _NAME.match(file_name):
        raise CheckpointError(f"checkpoint {name!r} names a bad tensor file ({file_name!r})")
    sha256 = manifest.get("sha256")
    if not isinstance(sha256, str):
        raise CheckpointError(f"checkpoint {name!r} manifest has no digest")
    try:
        payload = store.get(file_name, sha256)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {name!r} tensor file is missing") from None
    except ValueError:
        raise CheckpointError(
            f"checkpoint {name!r} does not match its digest: the file was truncated or changed"
        ) from None
    if len(payload) != manifest.get("bytes"):
        raise CheckpointError(f"checkpoint {name!r} does not match its digest: the file was truncated or changed")
    try:
        tensors = st_load(payload)
        ckpt = Checkpoint(
            model=ModelOptions.from_dict(manifest["model"]),
            data=data_options(manifest["data"]),
            train=TrainOptions.from_dict(manifest["train"]),
            epoch=int(manifest["epoch"]),
            history=_history(manifest["history"]),
            tensors=tensors,
            optimizer_groups=manifest.get("optimizer_groups"),
            extra=dict(manifest.get("extra") or {}),
            info=CheckpointInfo(file_name, sha256, len(payload)),
            scaler=Scaler(**manifest["scaler"]) if manifest.get("scaler") else None,
            lag=int((manifest.get("transform") or {}).get("lag", 0)),
            covariates=tuple(str(n) for n in (manifest.get("transform") or {}).get("covariates", ())),
            trend_scale=float((manifest.get("transform") or {}).get("trend_scale", 1.0)),
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


def delete_checkpoint(store: Blobs, name: str) -> None:
    """Remove a checkpoint's manifest and tensor files, if present."""
    _check_name(name)
    store.delete(f"{name}.json")
    for key in _stale(store, name):
        store.delete(key)
