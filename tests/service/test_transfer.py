"""Export and import through the real API, a real predict worker and a real Redis (docs/guides/export.md)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
from typer.testing import CliRunner

from rnncast.client.cli import app
from rnncast.common.store import Keys
from rnncast.core.onnx_step import step_rollout
from tests.support import TINY, Api

CELLS = ("RNN", "LSTM", "GRU")
CONTEXT = np.sin(np.arange(TINY["sequence_length"] + 5) * 0.31).tolist()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "guides" / "export.md"


@pytest.fixture(scope="module")
def models(stack):
    ids = {}
    for cell in CELLS:
        job = stack.api.http.post("/v1/jobs", json={"cell": cell, **TINY}).json()
        done = stack.api.wait_job(job["id"])
        assert done["status"] == "succeeded", done
        ids[cell] = done["model_id"]
    return ids


def forecast(stack, model_id, **body):
    r = stack.api.http.post(f"/v1/models/{model_id}/forecast", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def stored(stack) -> tuple[set[str], set[str], dict[str, str]]:
    """What imports could leave behind: model records, the models index, the bytes account, model folders."""
    r = stack.r
    records = set(r.scan_iter(Keys.model("*")))
    index = set(r.zrange(Keys.models, 0, -1))
    folders = {p.name for p in (stack.data_dir / "models").iterdir()}
    return records | index, folders, r.hgetall(Keys.model_bytes)


@pytest.mark.parametrize("cell", CELLS)
def test_an_exported_onnx_steps_rollout_equals_the_services_forecast(stack, models, cell):
    model_id = models[cell]
    r = stack.api.http.get(f"/v1/models/{model_id}/export", params={"format": "onnx"})
    assert r.status_code == 200, r.text
    assert hashlib.sha256(r.content).hexdigest() == r.headers["x-rnncast-onnx-sha256"]
    assert float(r.headers["x-rnncast-parity-max-abs-diff"]) <= float(r.headers["x-rnncast-parity-tolerance"])
    meta = json.loads({p.key: p.value for p in onnx.load_from_string(r.content).metadata_props}["rnncast"])
    assert meta["cell"] == cell and meta["sequence_length"] == TINY["sequence_length"]
    assert meta["states"] == (["h", "c"] if cell == "LSTM" else ["h"])
    assert meta["parity"]["passed"] and meta["parity"]["request"] == {"horizon": 100, "start": 123.0}
    session = onnxruntime.InferenceSession(r.content, providers=["CPUExecutionProvider"])
    window = np.array([CONTEXT[-meta["sequence_length"]:]], dtype=np.float32)
    ours = step_rollout(lambda feed: session.run(None, feed), cell,
                        (meta["num_layers"], meta["hidden_size"], meta["output_steps"]), window, 40)[0]
    theirs = np.array(forecast(stack, model_id, context=CONTEXT, horizon=40)["y"])
    assert np.max(np.abs(ours - theirs)) <= 1e-4 * max(1.0, float(np.max(np.abs(theirs))))
    again = stack.api.http.get(f"/v1/models/{model_id}/export", params={"format": "onnx"})
    assert again.content == r.content  # the file made once is served again


def test_a_safetensors_export_reimports_as_a_model_that_forecasts_bit_equal(stack, models):
    model_id = models["LSTM"]
    r = stack.api.http.get(f"/v1/models/{model_id}/export")  # safetensors is the default
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["SHA256SUMS", "manifest.json", "model.safetensors"]
        sums = dict(line.split()[::-1] for line in zf.read("SHA256SUMS").decode().splitlines())
        manifest = zf.read("manifest.json")
        assert sums["manifest.json"] == hashlib.sha256(manifest).hexdigest() == r.headers["x-rnncast-manifest-sha256"]
        assert sums["model.safetensors"] == json.loads(manifest)["sha256"] == r.headers["x-rnncast-checkpoint-sha256"]
    made = stack.api.http.post("/v1/models", content=r.content, headers={"Content-Type": "application/zip"})
    assert made.status_code == 201, made.text
    imported = made.json()
    assert imported["id"] != model_id and imported["job_id"] is None
    assert made.headers["location"] == f"/v1/models/{imported['id']}"
    assert imported["imported"] == {"source_model_id": model_id, "manifest_sha256": sums["manifest.json"]}
    original = stack.api.http.get(f"/v1/models/{model_id}").json()
    assert imported["parameters"] == original["parameters"] and imported["calibration"] == original["calibration"]
    for body in ({"start": 60.0, "horizon": 30}, {"context": CONTEXT, "horizon": 30}):
        a, b = forecast(stack, model_id, **body), forecast(stack, imported["id"], **body)
        assert a.pop("model_id") == model_id and b.pop("model_id") == imported["id"]
        assert a == b  # to the bit: JSON floats carry every digit
    backtest = stack.api.http.post(f"/v1/models/{imported['id']}/backtest", json={"origins": 3, "horizon": 5})
    assert backtest.status_code == 200, backtest.text
    # An imported model is listed and filtered like a trained one (its facets written by the import script).
    listed = stack.api.http.get("/v1/models", params={"cell": "LSTM"}).json()["data"]
    assert imported["id"] in [m["id"] for m in listed]
    labels = {"name": "from-elsewhere", "tags": ["imported"]}
    patched = stack.api.http.patch(f"/v1/models/{imported['id']}", json=labels)
    assert patched.status_code == 200, patched.text
    tagged = stack.api.http.get("/v1/models", params={"tag": "imported", "name": "from-elsewhere"}).json()
    assert [m["id"] for m in tagged["data"]] == [imported["id"]] and tagged["count"] == 1
    assert stack.api.http.delete(f"/v1/models/{imported['id']}").status_code == 204
    assert stack.api.http.get("/v1/models", params={"tag": "imported"}).json()["count"] == 0


def _repack(package: bytes, manifest: dict | None = None, tensors: bytes | None = None) -> bytes:
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        old_manifest, old_tensors = json.loads(zf.read("manifest.json")), zf.read("model.safetensors")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest if manifest is not None else old_manifest))
        zf.writestr("model.safetensors", tensors if tensors is not None else old_tensors)
    return buf.getvalue()


def test_bad_imports_are_refused_and_store_nothing(stack, models, tmp_path):
    package = stack.api.http.get(f"/v1/models/{models['GRU']}/export").content
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        manifest, tensors = json.loads(zf.read("manifest.json")), zf.read("model.safetensors")
    tampered = tensors[:-4] + b"\x00\x00\x80\x7f"
    wider = {**manifest, "model": {**manifest["model"], "hidden_size": 5}}
    bad = {
        "not a zip": (b"PK\x03\x04 not really", "not a zip file"),
        "wrong digest": (_repack(package, tensors=tampered), "does not match the manifest's digest"),
        "shape mismatch": (_repack(package, manifest=wider), "does not fit the manifest's model options"),
        "bad options": (_repack(package, manifest={**manifest, "model": {**manifest["model"], "cell": "CNN"}}),
                        "options are invalid"),
        "pickle smuggled": (_repack(package, manifest={**manifest, "format": "torch-pickle"}),
                            "not an rnncast checkpoint manifest"),
    }
    # A NaN weight with a matching digest passes the API's checks; the worker's load refuses it.
    nan = _repack(package, manifest={**manifest, "sha256": hashlib.sha256(tampered).hexdigest()}, tensors=tampered)
    before = stored(stack)
    for name, (body, why) in bad.items():
        r = stack.api.http.post("/v1/models", content=body, headers={"Content-Type": "application/zip"})
        assert r.status_code == 422 and why in r.text, (name, r.status_code, r.text)
    r = stack.api.http.post("/v1/models", content=nan, headers={"Content-Type": "application/zip"})
    assert r.status_code == 422, r.text
    r = stack.api.http.post("/v1/models", content=package, headers={"Content-Type": "text/csv"})
    assert r.status_code == 415
    small = Api(stack.redis.url, stack.data_dir, tmp_path / "api.log", extra={"RNNCAST_MAX_UPLOAD_BYTES": "2048"})
    try:
        assert len(package) > 2048
        r = small.http.post("/v1/models", content=package, headers={"Content-Type": "application/zip"})
        assert r.status_code == 413, r.text

        def chunks():  # no declared length: counted as it arrives
            for start in range(0, len(package), 1024):
                yield package[start:start + 1024]
        r = small.http.post("/v1/models", content=chunks(), headers={"Content-Type": "application/zip"})
        assert r.status_code == 413, r.text
    finally:
        small.stop()
    full = Api(stack.redis.url, stack.data_dir, tmp_path / "full.log", extra={"RNNCAST_MAX_MODELS": "1"})
    try:  # a sound package past the models quota: refused after the worker's check, its files removed
        r = full.http.post("/v1/models", content=package, headers={"Content-Type": "application/zip"})
        assert r.status_code == 429 and "RNNCAST_MAX_MODELS" in r.text, r.text
    finally:
        full.stop()
    assert stored(stack) == before


def test_the_cli_exports_onnx_and_imports_a_package(stack, models, tmp_path):
    runner = CliRunner()
    onnx_file, package = tmp_path / "gru.onnx", tmp_path / "gru.zip"
    result = runner.invoke(app, ["export", models["GRU"][:8], "--format", "onnx", "-o", str(onnx_file),
                                 "--url", stack.api.url])
    assert result.exit_code == 0, result.output
    assert "parity-max-abs-diff" in result.output and onnx.load(str(onnx_file)).graph.input[0].name == "x"
    result = runner.invoke(app, ["export", models["GRU"], "-o", str(package), "--url", stack.api.url])
    assert result.exit_code == 0 and zipfile.is_zipfile(package), result.output
    result = runner.invoke(app, ["import", str(package), "--json", "--url", stack.api.url])
    assert result.exit_code == 0, result.output
    imported = json.loads(result.output)
    assert imported["cell"] == "GRU" and imported["imported"]["source_model_id"] == models["GRU"]
    assert stack.api.http.delete(f"/v1/models/{imported['id']}").status_code == 204


def docs_forecast() -> Callable[..., Any]:
    """The guide's `rnncast_forecast`, as a user would paste it."""
    [code] = [block for block in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
              if "def rnncast_forecast" in block]
    space: dict[str, Any] = {}
    exec(code, space)
    return space["rnncast_forecast"]  # type: ignore[no-any-return]


def test_the_guides_function_reproduces_a_differenced_scaled_models_forecast(stack, tmp_path):
    values = (5 * np.sin(np.arange(300) * 0.3) + 0.05 * np.arange(300) + 20).tolist()
    dataset = stack.api.http.post("/v1/datasets", json={"name": "trend", "values": values}).json()
    tiny = {k: v for k, v in TINY.items() if k != "data"}
    job = stack.api.http.post("/v1/jobs", json={"cell": "LSTM", **tiny, "data": {"dataset_id": dataset["id"]},
                                                "difference": "first"}).json()
    done = stack.api.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    path = tmp_path / "model.onnx"
    r = stack.api.http.get(f"/v1/models/{done['model_id']}/export", params={"format": "onnx"})
    assert r.status_code == 200, r.text
    path.write_bytes(r.content)
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["rnncast"])
    assert meta["transform"]["lag"] == 1 and meta["transform"]["scaler"]["std"] != 1.0
    assert meta["parity"]["request"] == {"horizon": 100}  # a dataset model's: from its series' end
    context = values[-40:]
    ours = docs_forecast()(str(path), context, 25)
    theirs = np.array(forecast(stack, done["model_id"], context=context, horizon=25)["y"])
    assert np.max(np.abs(ours - theirs)) <= 1e-4 * max(1.0, float(np.max(np.abs(theirs))))


def test_the_guides_package_commands_check_its_digests(stack, models, tmp_path):
    (tmp_path / "model.zip").write_bytes(stack.api.http.get(f"/v1/models/{models['RNN']}/export").content)
    [line] = [ln for ln in DOCS.read_text().splitlines() if "sha256sum -c SHA256SUMS" in ln]
    command = line.split("#")[0].strip().replace("python ", f"{sys.executable} ", 1)
    done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["manifest.json:", "OK", "model.safetensors:", "OK"]
