"""The first hour, followed as a new user follows the docs: the quick start's CLI walk-through (its commands taken
from docs/quickstart.md) on `rnncast up`, then a second host on S3 from a fresh data folder (the commands of
docs/operations/deploy.md: SeaweedFS from its wheel, the store's settings exported, `rnncast artifacts init`, a
training worker on host B). Only ports, data folders and the epochs (kept small) differ from the pages."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import ROOT, Proc, RedisServer, free_port, wait_until

BIN = Path(sys.executable).parent
QUICKSTART = ROOT / "docs" / "quickstart.md"
DEPLOY = ROOT / "docs" / "operations" / "deploy.md"
FAST = ["--epochs", "3", "--hidden-size", "4"]  # appended: the last value of a flag wins


def sh_blocks(page: Path, after: str = "") -> list[str]:
    """The page's ```sh blocks (after the heading `after`)."""
    text = page.read_text()
    text = text[text.index(after):] if after else text
    return re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)


def commands(block: str) -> list[str]:
    """A block's commands: continuation lines joined, comments and `# ->` answers dropped."""
    lines = block.replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#.*$", "", line).strip() for line in lines if line.strip() and not line.startswith("#")]


def answers(block: str) -> list[str]:
    """The answers a block shows (`# -> ...`)."""
    return [line.removeprefix("# -> ") for line in block.splitlines() if line.startswith("# -> ")]


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A new user's shell: the venv's bin on PATH (no redis-server: the embedded Valkey), no RNNCAST_ setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNCAST_", "AWS_"))}
    return env | {"PATH": f"{BIN}:/usr/bin:/bin", "RNNCAST_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"} | extra


def rnncast(line: str, env: dict[str, str], cwd: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run one documented `rnncast ...` line (shell words, $VARIABLES from env) as the user would."""
    args = shlex.split(re.sub(r"\$(\w+)", lambda m: env[m.group(1)], line))
    assert args[0] == "rnncast", line
    return subprocess.run([sys.executable, "-m", "rnncast.client", *args[1:], *extra], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


class Up:
    """`rnncast up` (what `make run` runs) in the background, until the API answers."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc([sys.executable, "-m", "rnncast.client", "up", "--port", str(self.port), "--workers", "1",
                          *args], env, log)
        wait_until(self._ready, timeout=120, interval=0.2)

    def _ready(self) -> bool:
        assert self.proc.proc.poll() is None, self.proc.log()
        return "try: curl" in self.proc.log()

    def stop(self) -> None:
        self.proc.signal(signal.SIGINT)  # Ctrl-C stops everything it started
        assert self.proc.proc.wait(timeout=60) == 0, self.proc.log()
        self.proc.stop()


def test_the_quick_start_walk_through(tmp_path):
    run_block, cli_block = sh_blocks(QUICKSTART)[0], sh_blocks(QUICKSTART, "## With the `rnncast` CLI")[0]
    assert commands(run_block) == ["make run"]
    assert re.search(r"^run: .*\n\t\$\(BIN\)/rnncast up$", (ROOT / "Makefile").read_text(), re.M)
    lines = {line.split()[1]: line for line in commands(cli_block)}
    assert list(lines) == ["train", "watch", "jobs", "forecast", "compare", "cancel"], lines

    env = clean_env(tmp_path / "data")  # no RNNCAST_REDIS_URL: `up` runs its own Redis (AOF under the data folder)
    up = Up(env, tmp_path / "up.log", "--redis-port", str(free_port()))
    try:
        env["RNNCAST_URL"] = up.url  # "Client commands talk to RNNCAST_URL"
        assert f"API at {up.url}" in up.proc.log()
        assert list((tmp_path / "data" / "redis").glob("**/*.aof*")), "its own Redis keeps an AOF in the data folder"

        trained = rnncast(lines["train"], env, tmp_path, tuple(FAST))
        assert trained.returncode == 0, trained.stderr
        # "ends with the model id"
        ending = re.search(r"succeeded: test loss \S+ after \d+ epochs; model (\w+)$", " ".join(trained.stderr.split()))
        assert ending, trained.stderr
        model_id = ending.group(1)

        listed = rnncast(lines["jobs"], env, tmp_path)
        assert listed.returncode == 0 and model_id[:8] in listed.stdout, listed.stdout

        first_forecast, context_forecast = [line for line in commands(cli_block) if line.startswith("rnncast forecast")]
        short = model_id[:8]  # as the lists show it: every id-taking command takes it
        plotted = rnncast(first_forecast.replace("<MODEL_ID>", short), env, tmp_path)
        assert plotted.returncode == 0, plotted.stderr
        assert (tmp_path / "forecast.png").read_bytes().startswith(b"\x89PNG")
        window = httpx.get(f"{up.url}/v1/models/{model_id}").json()["params"]["sequence_length"]
        (tmp_path / "values.txt").write_text("\n".join(str(i / 10) for i in range(window)) + "\n")
        continued = rnncast(context_forecast.replace("<MODEL_ID>", short), env, tmp_path)
        assert continued.returncode == 0, continued.stderr
        assert len(json.loads(continued.stdout)["y"]) == 20

        compared = rnncast(lines["compare"], env, tmp_path, tuple(FAST))
        assert compared.returncode == 0, compared.stderr
        assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["loss.png", "predictions.png"]

        # A job still running: watched, Ctrl-C (the job goes on), watched again by its short id, cancelled.
        long = rnncast(lines["train"].replace("--watch", "--json"), env, tmp_path, ("--epochs", "5000"))
        job_id = json.loads(long.stdout)["id"]
        watch_line = lines["watch"].replace("<JOB_ID>", job_id[:8])
        wait_until(lambda: httpx.get(f"{up.url}/v1/jobs/{job_id}").json()["status"] == "running", timeout=60)
        first = _background(watch_line, env, tmp_path)
        time.sleep(3)  # following by now
        first.send_signal(signal.SIGINT)
        _, said = first.communicate(timeout=60)
        assert first.returncode == 130 and f"follow it: rnncast watch {job_id}" in " ".join(said.split()), said
        assert httpx.get(f"{up.url}/v1/jobs/{job_id}").json()["status"] == "running"

        again = _background(watch_line, env, tmp_path)
        time.sleep(3)
        cancelled = rnncast(lines["cancel"].replace("<JOB_ID>", job_id[:8]), env, tmp_path)
        assert cancelled.returncode == 0, cancelled.stderr
        _, said = again.communicate(timeout=120)
        assert again.returncode == 1 and "cancelled" in said, said  # it followed the job to its end
        assert _ended(up.url, job_id) == "cancelled"
    finally:
        up.stop()


def _background(line: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """A documented `rnncast ...` line started in the background (to interrupt it)."""
    return subprocess.Popen([sys.executable, "-m", "rnncast.client", *shlex.split(line)[1:]], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ended(url: str, job_id: str) -> str | None:
    status = httpx.get(f"{url}/v1/jobs/{job_id}").json()["status"]
    return status if status in ("succeeded", "failed", "cancelled") else None


def s3_ports_for(line: str) -> tuple[str, int]:
    """The doc's `weed server ...` line on free ports (the doc's are SeaweedFS's defaults), in the foreground."""
    s3_port = free_port()
    ports = " ".join(f"-{name}.port={free_port()} -{name}.port.grpc={free_port()}"
                     for name in ("master", "volume", "filer"))
    line = line.removesuffix("&").strip().replace("-s3.port=8333", f"-s3.port={s3_port} -s3.port.grpc={free_port()}")
    return f"exec {line} {ports} -s3.port.iceberg=0 -s3.port.lance=0 -volume.max=0", s3_port


def exported(script: str, env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The environment after running `script` (the doc's lines) in bash."""
    out = subprocess.run(["bash", "-euc", f"{script}\nenv -0"], cwd=cwd, env=env, capture_output=True, timeout=60,
                         check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def test_a_second_host_on_s3_from_a_fresh_data_folder(tmp_path):
    weed_block, store_block, refused_block, host_b_block = sh_blocks(DEPLOY, "## S3 without Docker")[:4]
    redis = RedisServer(tmp_path / "redis").start()  # host A's Redis, which host B reaches too
    host_a, host_b = tmp_path / "a", tmp_path / "b"
    host_a.mkdir()
    weed_lines = commands(weed_block)
    weed_line, s3_port = s3_ports_for(weed_lines.pop())
    base = clean_env(host_a / "data", RNNCAST_REDIS_URL=redis.url)
    env = exported("\n".join(weed_lines).replace("PRIVATE_ADDR=10.0.0.5", "PRIVATE_ADDR=127.0.0.1"), base, host_a)
    assert env["AWS_SECRET_ACCESS_KEY"] and (host_a / "s3" / "s3.json").is_file()
    weed = Proc(["bash", "-c", f"cd {shlex.quote(str(host_a))} && {weed_line}"], env, tmp_path / "weed.log")
    procs = [weed]
    up = None
    try:
        local = rnncast("rnncast artifacts init", env, host_a)  # before the exports: the local folder, and it says so
        assert local.returncode == 0 and "(a local folder, RNNCAST_ARTIFACTS unset;" in local.stdout, local.stdout

        exports, *store_lines = commands(store_block)
        env = exported(exports.replace(":8333", f":{s3_port}"), env, host_a)
        wait_until(lambda: _s3_answers(env, s3_port), timeout=120, interval=0.2)
        documented = {line: answer.replace("10.0.0.5:8333", f"127.0.0.1:{s3_port}")
                      for line, answer in zip(store_lines, answers(store_block), strict=False)}

        (refused_line,) = [line.removeprefix("$ ") for line in refused_block.splitlines() if line.startswith("$ ")]
        refused = rnncast(refused_line, env, host_a)  # before `artifacts init`: no bucket yet
        (refusal,) = [line for line in refused_block.splitlines() if line.startswith("rnncast:")]
        assert refused.returncode != 0
        assert refused.stderr.strip() == refusal.replace("10.0.0.5:8333", f"127.0.0.1:{s3_port}"), refused.stderr

        for line in ("rnncast artifacts init", "rnncast artifacts check"):
            answer = rnncast(line, env, host_a)
            assert answer.returncode == 0 and answer.stdout.strip() == documented[line], answer.stdout + answer.stderr

        up_line = store_lines[-1]
        assert up_line == "rnncast up --queues predict", up_line
        up = Up(env, tmp_path / "up.log", "--queues", "predict")
        env["RNNCAST_URL"] = up.url

        b_env = clean_env(host_b / "data")
        b_script = "\n".join(commands(host_b_block)[:-1])
        b_script = (b_script.replace("10.0.0.5:6379/0", redis.url.removeprefix("redis://"))
                    .replace("10.0.0.5:8333", f"127.0.0.1:{s3_port}").replace("~/rnncast-b", str(host_b))
                    .replace("AWS_SECRET_ACCESS_KEY=...", f"AWS_SECRET_ACCESS_KEY={env['AWS_SECRET_ACCESS_KEY']}"))
        b_env = exported(b_script, b_env, tmp_path)
        assert b_env["RNNCAST_DATA_DIR"] == str(host_b)
        worker_line = commands(host_b_block)[-1]
        assert worker_line == "rnncast worker --queues train"
        procs.append(Proc([sys.executable, "-m", "rnncast.client", *shlex.split(worker_line)[1:]], b_env,
                          tmp_path / "worker-b.log"))

        trained = rnncast("rnncast train --cell LSTM --watch", env, tmp_path, tuple(FAST))
        assert trained.returncode == 0, trained.stderr
        model_id = re.search(r"model (\w+)$", " ".join(trained.stderr.split())).group(1)  # type: ignore[union-attr]
        forecast = rnncast(f"rnncast forecast {model_id[:8]} --horizon 20 --json", env, tmp_path)
        assert forecast.returncode == 0 and len(json.loads(forecast.stdout)["y"]) == 20, forecast.stderr

        # The model is in S3, on neither host's disk: host B trained it (host A runs no training worker), host A
        # served it.
        keys = _s3_keys(env, s3_port, f"artifacts/models/{model_id}/")
        assert "model.json" in keys and any(k.endswith(".safetensors") for k in keys), keys
        for host in (host_a / "data", host_b):
            files = [str(p.relative_to(host)) for p in host.rglob("*") if p.is_file()]
            assert not [f for f in files if f.startswith(("models/", "jobs/", "datasets/"))], (host, files)
    finally:
        if up is not None:
            up.stop()
        for proc in reversed(procs):
            proc.stop()
        redis.stop()


def _s3(env: dict[str, str], port: int):
    import boto3  # only the S3 tests load it

    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def _s3_answers(env: dict[str, str], port: int) -> bool:
    try:
        _s3(env, port).list_buckets()
        return True
    except Exception:  # not up yet: connection refused, or its filer not ready
        return False


def _s3_keys(env: dict[str, str], port: int, prefix: str) -> list[str]:
    answer = _s3(env, port).list_objects_v2(Bucket="rnncast", Prefix=prefix)
    return [obj["Key"].removeprefix(prefix) for obj in answer.get("Contents", [])]
