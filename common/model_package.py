"""A model's checkpoint as one file a user can carry: the export's zip, and the checks an import makes of it.

The package is a zip (stored, not compressed: float tensors do not shrink) of three members, unpacked by
`unzip` or any zip tool:

- `manifest.json`: the checkpoint's JSON manifest, as the service keeps it (core.checkpoint): the model,
  data and training options, the epoch, the history, the transform (scaler, differencing, covariates)
  and `sha256`/`bytes` of the tensor file;
- `model.safetensors`: the tensors (weights; the optimizer's moments; a dataset model's own series);
- `SHA256SUMS`: both members' digests, in the format `sha256sum -c SHA256SUMS` checks.

An import reads such a zip within a size bound and checks, before anything is stored: the members (no
others, no zip bomb: their declared sizes are bounded before a byte is inflated), the manifest's format
and options (common.options), the tensor file's digest and size against the manifest, and the tensor
file's safetensors header against the shapes the declared options give (`expected_shapes`). No pickle
is read anywhere: JSON and safetensors only. Torch-free, so the API process makes these checks itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

from rnncast.common import covariates
from rnncast.common.defaults import GATES
from rnncast.common.options import DatasetData, ModelOptions, TrainOptions, data_options

MANIFEST, TENSORS, SUMS = "manifest.json", "model.safetensors", "SHA256SUMS"
FORMAT, VERSION = "rnncast-checkpoint", 1  # core.checkpoint's (a test pins them together)
MEDIA_TYPE = "application/zip"
# Tensor groups a checkpoint may hold beside the model's own (`model.`): optimizer moments, the best
# epoch's weights, the RNG state, a dataset model's series.
OTHER_PREFIXES = ("optim.", "best.", "rng.", "data.")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same checkpoint gives the same bytes


@dataclass(frozen=True)
class Package:
    """An import's checked contents: the manifest, the tensor file, and the digest of manifest.json as sent."""

    manifest: dict[str, Any]
    tensors: bytes
    manifest_sha256: str


class PackageError(ValueError):
    """An import that is not a well-formed, self-consistent rnncast checkpoint package (the message says why)."""


def build_package(manifest: bytes, tensors: bytes) -> bytes:
    """The export's zip of a checkpoint's manifest and tensor file, with their digests."""
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in
                   ((MANIFEST, manifest), (TENSORS, tensors)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in ((MANIFEST, manifest), (TENSORS, tensors), (SUMS, sums.encode())):
            zf.writestr(zipfile.ZipInfo(name, _ZIP_TIME), data)
    return buf.getvalue()


def read_package(raw: bytes | bytearray, limit: int) -> Package:
    """A package's contents, checked as the module docstring says; PackageError otherwise.

    Args:
        limit: bytes the members may take inflated, in all.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise PackageError(f"the body is not a zip file: send the package `GET /v1/models/{{id}}/export"
                           f"?format=safetensors` gives ({MANIFEST} and {TENSORS})") from None
    with zf:
        infos = {i.filename: i for i in zf.infolist()}
        extra = sorted(set(infos) - {MANIFEST, TENSORS, SUMS})
        missing = [n for n in (MANIFEST, TENSORS) if n not in infos]
        if extra or missing or len(infos) != len(zf.infolist()):
            raise PackageError(f"the package must hold {MANIFEST} and {TENSORS} (and optionally {SUMS}), no "
                               f"other member and none twice; missing {missing}, unexpected {extra[:5]}")
        inflated = sum(i.file_size for i in infos.values())
        if inflated > limit:
            raise PackageError(f"the package inflates to {inflated} bytes, above this server's limit {limit}")
        try:
            manifest_raw, tensors = zf.read(MANIFEST), zf.read(TENSORS)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise PackageError(f"the package is corrupt: {exc}") from None
    try:
        manifest = json.loads(manifest_raw)
    except ValueError as exc:
        raise PackageError(f"{MANIFEST} is not JSON: {exc}") from None
    check_manifest(manifest, tensors)
    return Package(manifest, tensors, hashlib.sha256(manifest_raw).hexdigest())


def check_manifest(manifest: Any, tensors: bytes) -> None:
    """The manifest is an rnncast checkpoint's, its options valid, and the tensor file its digest names with
    the tensors its options give; PackageError otherwise."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackageError(f"{MANIFEST} is not an rnncast checkpoint manifest (format {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise PackageError(f"{MANIFEST} version ({manifest.get('version')!r}) is not {VERSION}")
    digest = hashlib.sha256(tensors).hexdigest()
    if manifest.get("sha256") != digest or manifest.get("bytes") != len(tensors):
        raise PackageError(f"{TENSORS} does not match the manifest's digest: sha256 {digest} and {len(tensors)} "
                           f"bytes, the manifest says {manifest.get('sha256')!r} and {manifest.get('bytes')!r}")
    try:
        model = ModelOptions.from_dict(manifest["model"])
        data = data_options(manifest["data"])
        TrainOptions.from_dict(manifest["train"])
        int(manifest["epoch"])
        names = tuple(str(n) for n in (manifest.get("transform") or {}).get("covariates", ()))
        unknown = [n for n in names if n != covariates.TREND and n not in covariates.PHASES]
        if unknown:
            raise ValueError(f"unknown covariates {unknown}")
    except (KeyError, TypeError, ValueError) as exc:
        raise PackageError(f"{MANIFEST} options are invalid: {exc}") from None
    expected = expected_shapes(model, 1 + covariates.width(names))
    if isinstance(data, DatasetData):
        expected["data.series"] = ("F64", (data.length,))
    check_tensors(tensors, expected)


def expected_shapes(model: ModelOptions, inputs: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The (dtype, shape) of each tensor a Forecaster of these options holds, by its checkpoint key."""
    rows, hidden = GATES[model.cell] * model.hidden_size, model.hidden_size
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for layer in range(model.num_layers):
        out[f"model.rnn.weight_ih_l{layer}"] = ("F32", (rows, inputs if layer == 0 else hidden))
        out[f"model.rnn.weight_hh_l{layer}"] = ("F32", (rows, hidden))
        out[f"model.rnn.bias_ih_l{layer}"] = ("F32", (rows,))
        out[f"model.rnn.bias_hh_l{layer}"] = ("F32", (rows,))
    out["model.head.weight"] = ("F32", (model.output_steps, hidden))
    out["model.head.bias"] = ("F32", (model.output_steps,))
    return out


_ITEM = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def check_tensors(payload: bytes, expected: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    """A safetensors file whose header is well formed, whose tensors tile its data exactly, and which holds
    each `expected` tensor with its dtype and shape (and besides only OTHER_PREFIXES' groups)."""
    if len(payload) < 8:
        raise PackageError(f"{TENSORS} is too short to be a safetensors file")
    (size,) = struct.unpack("<Q", payload[:8])
    if size > len(payload) - 8:
        raise PackageError(f"{TENSORS} header claims {size} bytes, more than the file holds")
    try:
        header = json.loads(payload[8 : 8 + size])
        header.pop("__metadata__", None)
        spans = sorted((int(v["data_offsets"][0]), int(v["data_offsets"][1]), k, v) for k, v in header.items())
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise PackageError(f"{TENSORS} header is malformed: {exc}") from None
    end = 0
    for begin, stop, key, meta in spans:
        count = 1
        for dim in meta.get("shape", [None]):
            count *= dim if isinstance(dim, int) and dim >= 0 else -1
        if begin != end or meta.get("dtype") not in _ITEM or count < 0 or stop - begin != count * _ITEM[meta["dtype"]]:
            raise PackageError(f"{TENSORS} header is malformed at tensor {key!r}")
        end = stop
    if end != len(payload) - 8 - size:
        raise PackageError(f"{TENSORS} data ({len(payload) - 8 - size} bytes) is not what its header describes")
    stray = sorted(k for k in header if k not in expected and not k.startswith(OTHER_PREFIXES))
    wrong = [f"{k}: {tuple(header[k]['shape'])} {header[k]['dtype']}, the manifest's options give {shape} {dtype}"
             for k, (dtype, shape) in expected.items()
             if k in header and (tuple(header[k]["shape"]) != shape or header[k]["dtype"] != dtype)]
    missing = sorted(k for k in expected if k not in header)
    if stray or wrong or missing:
        raise PackageError(f"{TENSORS} does not fit the manifest's model options: "
                           + "; ".join([*wrong[:5], *(f"missing {k}" for k in missing[:5]),
                                        *(f"unexpected {k}" for k in stray[:5])]))
