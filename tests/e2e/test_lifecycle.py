"""docs/guides/model-lifecycle.md, run as written against the real stack (a real Redis, API and Celery worker):
its receiver (with the webhooks guide's `verify_rnncast`) as a process of its own, its curl and `rnncast` lines
in order, and every statement it makes checked."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from typer.testing import CliRunner

from rnncast.client.cli import app
from tests.support import Api, RedisServer, free_port, start_worker, wait_until, wait_worker_ready
from tests.webhook_receiver import SENDER

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "guides"
PAGE = GUIDES / "model-lifecycle.md"
HEX = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("lifecycle")
    redis = RedisServer(root / "redis").start()
    api = Api(redis.url, root / "data", root / "api.log", extra=SENDER)
    worker = start_worker(redis.url, root / "data", root / "worker.log", concurrency=2, extra=SENDER)
    try:
        wait_worker_ready(redis.client())
        yield api
    finally:
        worker.stop()
        api.stop()
        redis.stop()


def steps() -> list[tuple[str, list[str]]]:
    """Each `$ ...` line of the page's console blocks, in order, with the lines the page shows after it."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", PAGE.read_text(), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line.removeprefix("$ "), []))
            else:
                out[-1][1].append(line)
    return out


def python_block(page: Path, marker: str) -> str:
    [code] = [b for b in re.findall(r"```python\n(.*?)```", page.read_text(), re.S) if marker in b]
    return code


class Listener:
    """The page's receiver.py, started by the page's own line, its printed lines collected as they come."""

    def __init__(self, line: str, cwd: Path, port: int) -> None:
        words = shlex.split(line.removesuffix("&").replace("9000", str(port)))
        env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
        argv = [w for w in words if w not in {f"{k}={v}" for k, v in env.items()}]
        assert argv[0] == "python", line
        self.proc = subprocess.Popen([sys.executable, *argv[1:]], cwd=cwd, env={"PATH": "/usr/bin:/bin", **env},
                                     stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")), daemon=True).start()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run(api: Api, command: str, ids: dict[str, str], port: int) -> Any:
    for name, value in ids.items():
        command = command.replace(f"<{name}>", value)
    command = command.replace("9000", str(port))
    if command.startswith("curl "):
        done = subprocess.run(["bash", "-c", command.replace("localhost:8000", api.url)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout
    assert command.startswith("rnncast "), command
    return CliRunner().invoke(app, [*shlex.split(command)[1:], "--url", api.url])


def test_the_pages_flow(stack, tmp_path, monkeypatch):
    api = stack
    (tmp_path / "verify_rnncast.py").write_text(python_block(GUIDES / "webhooks.md", "def verify_rnncast"))
    (tmp_path / "receiver.py").write_text(python_block(PAGE, "# receiver.py"))
    monkeypatch.chdir(tmp_path)
    port, ids, said = free_port(), {}, []
    listener = None
    try:
        for command, shown in steps():
            if command.startswith("RNNCAST_WEBHOOK_SECRET="):
                listener = Listener(command, tmp_path, port)
                wait_until(lambda: _listening(port), timeout=30)
                continue
            result = run(api, command, ids, port)
            if isinstance(result, str):  # curl: the dataset, as the page shows it
                record = json.loads(result)
                assert record["name"] == "cycle" and record["length"] == 400
                ids["DATASET"] = record["id"]
                continue
            refused = bool(shown) and shown[0].startswith("refused:")
            assert result.exit_code == (1 if refused else 0), (command, result.output)
            said.append((command, result.output))
            words = command.split()
            if words[1] == "train":
                model = api.wait_job(HEX.findall(result.output)[0], timeout=180)
                assert model["status"] == "succeeded", model
                ids["GOOD" if "--name good" in command else "POOR"] = model["model_id"]
            elif words[1] == "import":
                ids["IMPORTED"] = HEX.findall(result.output)[0]
        assert listener is not None and set(ids) == {"DATASET", "GOOD", "POOR", "IMPORTED"}
        check_the_pages_statements(api, ids, said, listener, port, tmp_path)
    finally:
        if listener is not None:
            listener.stop()


def _listening(port: int) -> bool:
    try:
        return httpx.post(f"http://127.0.0.1:{port}/rnncast", content=b"{}").status_code == 401
    except httpx.TransportError:
        return False


def check_the_pages_statements(api: Api, ids: dict[str, str], said: list[tuple[str, str]], listener: Listener,
                               port: int, tmp_path: Path) -> None:
    good, poor = (api.http.get(f"/v1/models/{ids[k]}").json() for k in ("GOOD", "POOR"))
    # The backtests' verdicts: the good model's skill positive, the poor one's negative.
    assert good["backtest"]["skill_over_seasonal_naive"] > 0 > poor["backtest"]["skill_over_seasonal_naive"]
    skills = [m["backtest"]["skill_over_seasonal_naive"] for m in (good, poor)]
    sys.stdout.write(f"\n[lifecycle] skill over seasonal naive: good {skills[0]:.3f}, poor {skills[1]:.3f}\n")
    assert good["backtest"]["origins"] == 20 and good["backtest"]["horizon"] == 10
    # The receiver printed the one move, verified (an unsigned request gets 401); the refusal sent nothing.
    [line] = re.findall(r"```text\n(.*?)```", PAGE.read_text(), re.S)  # what the page shows it printing
    line = line.replace("<GOOD>", ids["GOOD"])
    wait_until(lambda: listener.lines, timeout=60)
    [hook] = api.http.get("/v1/webhooks").json()["data"]
    [delivery] = api.http.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"]
    wait_until(lambda: api.http.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"][0]["state"]
               == "delivered", timeout=60)
    assert listener.lines == [line] and delivery["event"] == "alias.moved"
    assert httpx.post(f"http://127.0.0.1:{port}/rnncast", content=b"{}").status_code == 401
    # The refusal: 409, the bar missed and worse than the current model's, both models' figures (from their
    # verdicts); the alias stays.
    [refusal] = [out for command, out in said if command.startswith("rnncast alias set production <POOR>")]
    assert refusal.startswith(f"refused: 409: alias @production stays on {ids['GOOD']}"), refusal
    assert "misses the bar (at least 0)" in refusal and "is worse than the current model's" in refusal
    assert f"candidate {ids['POOR']}: skill_over_seasonal_naive=" in refusal
    assert f"current {ids['GOOD']}: skill_over_seasonal_naive=" in refusal and refusal.count("(verdict ") == 2
    assert api.http.get("/v1/aliases/production").json()["model_id"] == ids["GOOD"]
    # Forecasts: 12 steps through the alias; the imported model's are the same numbers.
    [through, imported] = (json.loads(out) for command, out in said if command.startswith("rnncast forecast"))
    assert len(through["y"]) == 12 and through["y"] == imported["y"]
    assert [round(x) for x in through["x"]] == list(range(400, 412))
    assert through["model_id"] == ids["GOOD"] and imported["model_id"] == ids["IMPORTED"]
    assert {"manifest.json", "model.safetensors"} <= set(zipfile.ZipFile(tmp_path / "production.zip").namelist())
    meta = {p.key: p.value for p in onnx.load(tmp_path / "production.onnx").metadata_props}["rnncast"]
    assert json.loads(meta)["parity"]["passed"]
    record = api.http.get(f"/v1/models/{ids['IMPORTED']}").json()
    assert record["imported"]["source_model_id"] == ids["GOOD"]
