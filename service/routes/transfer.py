"""Models in and out: export a model (its checkpoint as a zip, or an ONNX step graph) and import a checkpoint
trained elsewhere (docs/guides/export.md)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from rnncast.common.artifacts import ArtifactStore
from rnncast.common.artifacts.layout import read_model_files, remove_model_files, write_model_files
from rnncast.common.model_package import MEDIA_TYPE, PackageError, build_package, read_package
from rnncast.common.store.aio import QuotaExceeded
from rnncast.service.deps import ArtifactsDep, SettingsDep, StoreDep, WorkerDep
from rnncast.service.errors import ERRORS, unprocessable
from rnncast.service.ids import model_or_404
from rnncast.service.quotas import model_quota, quota_refusal
from rnncast.service.schemas import Model
from rnncast.service.transfer import EXPORT_HELP, IMPORT_MEDIA, ExportFormat, export_headers, import_record
from rnncast.service.uploads import read_body

router = APIRouter(prefix="/models", tags=["models"])
BINARY = {"schema": {"type": "string", "format": "binary"}}
EXPORTED: dict[int | str, dict[str, Any]] = {200: {"content": {MEDIA_TYPE: BINARY, "application/octet-stream": BINARY},
                                                   "description": "the package (safetensors) or the ONNX file"}}
PACKAGE = {"schema": {"type": "string", "format": "binary", "description": "the zip GET /v1/models/{model_id}/export"
                      "?format=safetensors gives: manifest.json, model.safetensors (and optionally SHA256SUMS)"}}
# Declared as octet-stream (Content-Type application/zip is as welcome): schema tools type a binary body by it.
IMPORT_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": PACKAGE}}}


def _get(artifacts: ArtifactStore, key: str, sha256: str) -> bytes:
    return artifacts.get(key, sha256)


@router.get("/{model_id}/export", response_class=Response, responses={**ERRORS, **EXPORTED})
async def export_model(
    model_id: str, store: StoreDep, artifacts: ArtifactsDep, worker: WorkerDep,
    format: Annotated[ExportFormat, Query(description=EXPORT_HELP)] = "safetensors",
) -> Response:
    """The model to take elsewhere. `safetensors`: a zip of its checkpoint (manifest.json, model.safetensors,
    SHA256SUMS), no pickle; `X-Rnncast-Manifest-Sha256` is manifest.json's digest. `onnx`: the cell as one step
    (inputs `x` (batch, inputs), `h` (and `c` for an LSTM) (layers, batch, hidden); outputs `y`, `h_out`
    (`c_out`)), exported and checked on a predict worker: its rollout of the model's default forecast must
    equal the service's within float32 rounding (409 when it does not; 503 when the workers lack the `export`
    extra). The file's metadata_props `rnncast` holds the window, transform and the check's figures, also in
    `X-Rnncast-Parity-Max-Abs-Diff` and `X-Rnncast-Parity-Tolerance`."""
    model = await model_or_404(store, model_id)
    sha256 = model["checkpoint"]["sha256"]
    if format == "safetensors":
        manifest, tensors = await artifacts.call(read_model_files, model_id, sha256)
        body = await run_in_threadpool(build_package, manifest, tensors)
        digests = {"Manifest-Sha256": hashlib.sha256(manifest).hexdigest(), "Checkpoint-Sha256": sha256}
        return Response(body, media_type=MEDIA_TYPE, headers=export_headers(model_id, "zip", digests))
    result = await worker.ask({"figure": "export_onnx", "model_id": model_id, "sha256": sha256})
    data = await artifacts.call(_get, result["key"], result["sha256"])
    parity = result["metadata"]["parity"]
    digests = {"Onnx-Sha256": result["sha256"], "Checkpoint-Sha256": sha256,
               "Parity-Max-Abs-Diff": repr(parity["max_abs_diff"]), "Parity-Tolerance": repr(parity["tolerance"])}
    return Response(data, media_type="application/octet-stream", headers=export_headers(model_id, "onnx", digests))


@router.post("", status_code=201, response_model=Model, responses={**ERRORS, 415: ERRORS[422]},
             openapi_extra=IMPORT_BODY)
async def import_model(
    request: Request, store: StoreDep, settings: SettingsDep, artifacts: ArtifactsDep, worker: WorkerDep,
) -> JSONResponse:
    """Import a checkpoint trained elsewhere: the zip `GET .../export?format=safetensors` gives (`application/zip`
    body, at most RNNCAST_MAX_UPLOAD_BYTES, inflated too). Before anything is kept, its members, manifest options,
    tensor digest and tensor shapes (against the manifest's model options) are checked here, then a predict
    worker loads it as a forecast would; a refusal (413, 415, 422, 429/507 past the models quota) stores
    nothing. The new model has its own id, `job_id` null and `imported` saying where it came from; it forecasts
    and backtests as any model (intervals only when its manifest carries a calibration)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in IMPORT_MEDIA:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"content type {media or 'none'!r}: send the package as {MEDIA_TYPE}")
    try:
        package = await run_in_threadpool(read_package, await read_body(request), settings.max_upload_bytes)
    except PackageError as exc:
        raise unprocessable(str(exc)) from None
    model_id = uuid.uuid4().hex
    await artifacts.call(write_model_files, model_id, package.manifest, package.tensors)
    try:  # no record, no files: a refused or failed import leaves nothing behind
        verified = await worker.ask({"figure": "verify_import", "model_id": model_id,
                                     "sha256": package.manifest["sha256"]})
        record = import_record(model_id, package, verified)
        await store.import_model(record, model_quota(settings))
    except BaseException as exc:
        await artifacts.call(remove_model_files, model_id)
        if isinstance(exc, QuotaExceeded):
            raise quota_refusal(exc) from None
        raise
    return JSONResponse(record, status_code=201, headers={"Location": f"/v1/models/{model_id}"})
