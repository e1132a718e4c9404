"""The client's export and import calls (`Client` has them through `TransferCalls`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import httpx

from rnncast.client.transport import Transport
from rnncast.client.types import Model

ExportFormat = Literal["safetensors", "onnx"]
SUFFIX = {"safetensors": "zip", "onnx": "onnx"}


class TransferCalls(Transport):
    """`/v1/models/{id}/export` and `POST /v1/models` as methods."""

    def export_model(self, model_id: str, path: Path | str, *, format: ExportFormat = "safetensors",
                     ) -> dict[str, str]:
        """Write the model's export to `path`: a zip of its checkpoint (safetensors), or an ONNX step graph; the
        answer's `X-Rnncast-*` headers (digests, the ONNX parity check's figures), lower-cased, without the prefix."""
        answer = self._request("GET", f"/v1/models/{model_id}/export", retry=True, params={"format": format},
                               timeout=httpx.Timeout(300.0, connect=10.0))
        Path(path).write_bytes(answer.content)
        return {k.lower().removeprefix("x-rnncast-"): v for k, v in answer.headers.items()
                if k.lower().startswith("x-rnncast-")}

    def import_model(self, path: Path | str) -> Model:
        """Import a checkpoint package (the zip `export_model(..., format="safetensors")` writes) as a new model."""
        answer = self._request("POST", "/v1/models", retry=False, content=Path(path).read_bytes(),
                               headers={"Content-Type": "application/zip"}, timeout=httpx.Timeout(300.0, connect=10.0))
        return Model.model_validate(answer.json())
