"""The client library and the `rnncast` CLI against the real stack."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from rnncast.client.api import Client
from rnncast.client.cli import app
from rnncast.client.errors import JobCancelled, NotFound
from rnncast.common.settings import Settings
from tests.support import ROOT, TINY, free_port, wait_until

PNG = b"\x89PNG\r\n\x1a\n"
TRAIN_ARGS = ["--points", "200", "--sequence-length", "10", "--hidden-size", "4", "--batch-size", "64"]


@pytest.fixture
def c(stack):
    with Client(stack.api.url) as client:
        yield client


def test_train_wait_forecast_and_plots_through_the_client(c):
    job = c.train("GRU", epochs=3, lr=0.01, hidden_size=4, batch_size=64, sequence_length=10,
                  data={"points": 200, "stop": 100})
    seen = []
    done = c.wait(job.id, on_progress=seen.append)
    assert done.status == "succeeded" and [e.epoch for e in seen] == [1, 2, 3]
    assert seen[-1].test_loss == done.metrics.test_loss
    model = c.model(done.model_id)
    assert model.cell == "GRU" and model.id in [m.id for m in c.models(limit=1000).data]
    fc = c.forecast(model.id, start=50.0, horizon=8)
    assert len(fc.y) == 8 and fc.mse is not None
    assert c.forecast(model.id, context=[0.1] * 10, horizon=2).exact is None
    assert c.forecast_png(model.id, start=50.0, horizon=8).startswith(PNG)
    c.delete_model(model.id)
    with pytest.raises(NotFound):
        c.model(model.id)


def test_waiting_on_a_cancelled_job_raises_job_cancelled(c):
    job = c.train("RNN", epochs=100_000, checkpoint_every=0, **{k: v for k, v in TINY.items() if k != "epochs"})
    wait_until(lambda: c.job(job.id).progress.epoch >= 1)
    c.cancel(job.id)
    with pytest.raises(JobCancelled):
        c.wait(job.id)


def test_compare_and_comparison_plots_through_the_client(c):
    study = c.compare(cells=["RNN", "GRU"], seeds=[0], epochs=2, **{k: v for k, v in TINY.items() if k != "epochs"},
                      forecast_start=50.0, forecast_horizon=5)
    done = c.wait_comparison(study.id, poll_interval=0.2, timeout=120)
    assert done.status == "succeeded" and done.best_cell in ("RNN", "GRU")
    plots = c.comparison_plots(study.id)
    assert set(plots) == {"loss", "predictions"} and all(p.startswith(PNG) for p in plots.values())


def run_cli(stack, *args: str):
    return CliRunner().invoke(app, [*args, "--url", stack.api.url])


def test_cli_train_watch_then_forecast_json(stack):
    result = run_cli(stack, "train", "--cell", "lstm", "--epochs", "3", "--lr", "0.01", *TRAIN_ARGS,
                     "--micro-batch-size", "20", "--watch")
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "3/3" in result.output
    model_id = result.output.split("model ")[-1].split()[0]
    assert stack.api.http.get(f"/v1/jobs/{model_id}").json()["params"]["micro_batch_size"] == 20
    result = run_cli(stack, "forecast", model_id, "--start", "50", "--horizon", "4", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert len(out["y"]) == 4 and out["model_id"] == model_id


def test_cli_compare_saves_plots_and_prints_the_summary(stack, tmp_path):
    result = run_cli(stack, "compare", "--cells", "RNN,GRU", "--seeds", "0,1", "--epochs", "2", *TRAIN_ARGS,
                     "--start", "50", "--horizon", "5", "--watch", "--plots", str(tmp_path / "plots"))
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "best" in result.output
    for name in ("loss.png", "predictions.png"):
        assert (tmp_path / "plots" / name).read_bytes().startswith(PNG)


def test_cli_errors_are_one_line_and_nonzero(stack):
    unknown = run_cli(stack, "job", "0" * 32)
    assert unknown.exit_code == 1 and "404" in unknown.output and "Traceback" not in unknown.output
    # A flag's value is checked against the declaration before any request: a usage error, no job.
    count = stack.api.http.get("/v1/jobs").json()["count"]
    invalid = run_cli(stack, "train", "--cell", "LSTM", "--hidden-size", "0")
    assert invalid.exit_code == 2 and "hidden_size (0) must be >= 1" in invalid.output
    assert stack.api.http.get("/v1/jobs").json()["count"] == count
    over = run_cli(stack, "train", "--cell", "LSTM", "--epochs", str(Settings.model_fields["max_epochs"].default + 1))
    assert over.exit_code == 1 and "RNNCAST_MAX_EPOCHS" in over.output  # the server's own limit, from the server
    down = CliRunner().invoke(app, ["jobs", "--url", f"http://127.0.0.1:{free_port()}"])
    assert down.exit_code == 1 and "cannot reach" in down.output and "Traceback" not in down.output


def test_ctrl_c_while_watching_leaves_the_job_running(stack):
    args = [sys.executable, "-m", "rnncast.client", "train", "--cell", "GRU", "--epochs", "100000",
            "--checkpoint-every", "0", *TRAIN_ARGS, "--watch", "--json", "--url", stack.api.url]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def running() -> bool:  # the CLI has its answer (the job exists) and a worker trains it: it is watching
        page = stack.api.http.get("/v1/jobs", params={"status": "running", "limit": 50}).json()["data"]
        return any(job["params"]["epochs"] == 100000 for job in page)

    wait_until(running, timeout=120, interval=0.2)
    time.sleep(1)  # from its answer to its watch is a few statements
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "keeps running" in err and "Traceback" not in err
    job_id = err.split("rnncast watch ")[1].split()[0]
    with Client(stack.api.url) as c:
        assert c.job(job_id).status in ("queued", "running")
        c.cancel(job_id)


@pytest.mark.parametrize("content", ["1.0\nabc\n", '{"values": [1.0]}', "[1.0, NaN]", "1.0\ninf\n", '[1.0, "x"]',
                                     f"[{'9' * 400}]"])
def test_a_context_file_that_is_not_finite_numbers_is_the_inputs_error(tmp_path, content):
    """The file's fault, not the command line's: one line, exit code 1 (a usage error is 2), before any request."""
    bad = tmp_path / "values.txt"
    bad.write_text(content)
    run = CliRunner().invoke(app, ["forecast", "0" * 32, "--context-file", str(bad),
                                   "--url", f"http://127.0.0.1:{free_port()}"])
    assert run.exit_code == 1, run.output
    assert run.output.startswith(f"error: {bad}: ") and run.output.count("\n") == 1 and "cannot reach" not in run.output


def test_cli_forecasts_your_values_and_draws_them(stack, tmp_path, c):
    job = c.train("GRU", epochs=2, lr=0.01, hidden_size=4, batch_size=64, sequence_length=10,
                  data={"points": 200, "stop": 100})
    model_id = c.wait(job.id).model_id
    values = tmp_path / "values.txt"
    values.write_text("\n".join(str(0.1 * k) for k in range(12)))
    out = run_cli(stack, "forecast", model_id, "--context-file", str(values), "--horizon", "4", "--plot",
              str(tmp_path / "mine.png"), "--json")
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.output)["y"]) == 4 and (tmp_path / "mine.png").read_bytes().startswith(PNG)


def test_cli_training_options_and_the_ensemble_of_a_comparison(stack, tmp_path):
    result = run_cli(stack, "train", "--cell", "gru", "--epochs", "4", "--lr", "0.01", *TRAIN_ARGS,
                     "--recipe", "accurate", "--lr-schedule", "cosine", "--min-lr", "0.001", "--grad-clip", "2",
                     "--early-stopping-patience", "3", "--rollout-finetune-epochs", "1",
                     "--rollout-finetune-horizon", "3",
                     "--input-noise-std", "0.01", "--json")
    assert result.exit_code == 0, result.output
    params = json.loads(result.output)["params"]
    assert params["recipe"] == "accurate" and params["lr_schedule"] == "cosine" and params["grad_clip"] == 2.0
    assert params["early_stopping"] == {"patience": 3, "min_delta": 0.0} and params["restore_best"] is True
    assert params["rollout_finetune"] == {"epochs": 1, "horizon": 3, "lr": 1e-4}
    assert params["input_noise_std"] == 0.01 and params["max_lr"] == 1e-2  # the recipe's, for GRU
    study = run_cli(stack, "compare", "--cells", "RNN", "--seeds", "0,1", "--epochs", "2", "--lr", "0.01", *TRAIN_ARGS,
                    "--lr-schedule", "onecycle", "--start", "60", "--horizon", "10", "--watch", "--json")
    assert study.exit_code == 0, study.output
    cid = json.loads(study.output)["id"]
    out = run_cli(stack, "ensemble", cid, "--horizon", "8", "--plot", str(tmp_path / "ens.png"), "--json")
    assert out.exit_code == 0, out.output
    band = json.loads(out.output)["cells"]["RNN"]
    assert band["n"] == 2 and len(band["mean"]) == 8 and (tmp_path / "ens.png").read_bytes().startswith(PNG)
    shown = run_cli(stack, "ensemble", cid, "--horizon", "8", "--interval", "0.8", "--json")
    assert shown.exit_code == 0, shown.output
    assert [b["level"] for b in json.loads(shown.output)["cells"]["RNN"]["intervals"]] == [0.8]
    table = run_cli(stack, "ensemble", cid, "--horizon", "8", "--interval", "0.8")
    row = next(line for line in table.output.splitlines() if "RNN" in line)
    assert table.exit_code == 0 and row.count("│") == 7, table.output  # the interval's width: a sixth column


def test_cli_forecast_and_backtest_with_intervals(stack, c):
    job = c.train("GRU", epochs=2, lr=0.01, hidden_size=4, batch_size=64, sequence_length=10,
                  data={"points": 400, "stop": 200})
    model_id = c.wait(job.id).model_id
    out = run_cli(stack, "forecast", model_id, "--start", "50", "--horizon", "4", "--interval", "0.8",
                  "--interval", "0.9", "--json")
    assert out.exit_code == 0, out.output
    bands = json.loads(out.output)["intervals"]
    assert [b["level"] for b in bands] == [0.8, 0.9] and all(len(b["lower"]) == 4 for b in bands)
    table = run_cli(stack, "forecast", model_id, "--start", "50", "--horizon", "4", "--interval", "0.8")
    assert table.exit_code == 0 and "0.8 interval" in table.output
    assert c.forecast(model_id, start=50.0, horizon=4, intervals=[0.8]).intervals[0].level == 0.8
    backtest = run_cli(stack, "backtest", model_id, "--origins", "40", "--horizon", "3", "--interval", "0.8")
    assert backtest.exit_code == 0 and "interval coverage 0.8" in backtest.output, backtest.output
    bad = run_cli(stack, "forecast", model_id, "--start", "50", "--interval", "1")
    assert bad.exit_code == 1 and "422" in bad.output and "less than 1" in bad.output
