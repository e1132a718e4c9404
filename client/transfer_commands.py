"""Client commands to take a model out of the service and bring one in: `rnncast export`, `rnncast import`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnncast.client.commands import client, emit_json, out
from rnncast.client.options import JsonOpt, KeyOpt, UrlOpt
from rnncast.client.transfer import SUFFIX, ExportFormat


def export(
    model_id: Annotated[str, typer.Argument(metavar="MODEL", help="The model's id (or a short id).")],
    format: Annotated[ExportFormat, typer.Option(
        "--format", help="safetensors: a zip of the checkpoint (manifest.json, model.safetensors, SHA256SUMS), "
        "which `rnncast import` reads; onnx: the cell as one step with its states, checked against the "
        "service's forecast")] = "safetensors",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The file to write (default: rnncast-MODEL.zip or .onnx here).")] = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Write a model's export to a file, and print its digests (and the ONNX parity check's figures)."""
    path = output or Path(f"rnncast-{model_id}.{SUFFIX[format]}")
    with client(url, api_key) as c:
        facts = c.export_model(model_id, path, format=format)
    if json_:
        emit_json({"path": str(path), **facts})
        return
    out.print(f"{path}: {path.stat().st_size} bytes", soft_wrap=True, markup=False)
    for name, value in sorted(facts.items()):
        out.print(f"  {name}: {value}", soft_wrap=True, markup=False)


def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False,
                                         help="A package `rnncast export --format safetensors` wrote.")],
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Import a checkpoint trained elsewhere as a new model; prints its id."""
    with client(url, api_key) as c:
        model = c.import_model(file)
    if json_:
        emit_json(model)
        return
    out.print(f"{model.id}: {model.cell}, {model.parameters} parameters, imported", soft_wrap=True, markup=False)
