"""Searches through the Python client and the `rnncast search` commands, on the real stack."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rnncast.client.api import Client
from rnncast.client.cli import app


def cli(stack, *args):
    return CliRunner().invoke(app, [*args, "--url", stack.api.url])


def test_search_through_the_client_and_the_cli(stack):
    with Client(stack.api.url) as c:
        ds = c.generate_dataset({"kind": "sine", "points": 160, "period": 10, "noise_std": 0.05, "seed": 1})
        found = c.start_search(ds.id, epochs=2, max_candidates=2, backtest={"origins": 4, "horizon": 4})
        assert found.phase == "candidates" and len(found.candidates) == 2
        done = c.wait_search(found.id, timeout=180)
        assert done.status == "succeeded" and done.model_ids and done.best_job_id
        assert found.id in [s.id for s in c.searches().data]
    r = cli(stack, "search", "--dataset", ds.id, "--epochs", "2", "--max-candidates", "2", "--horizon", "4",
            "--watch")
    assert r.exit_code == 0, r.output
    assert "candidates read the first" in r.output and "best" in r.output and "refit (train): model" in r.output
    listed = cli(stack, "searches")
    assert listed.exit_code == 0 and "succeeded" in listed.output
    shown = cli(stack, "search-show", found.id, "--json")
    assert shown.exit_code == 0 and json.loads(shown.output)["best_job_id"] == done.best_job_id
    auto = cli(stack, "train", "--cell", "GRU", "--recipe", "auto", "--dataset", ds.id, "--epochs", "2", "--watch",
               "--json")
    assert auto.exit_code == 0, auto.output
    assert cli(stack, "delete-search", found.id).exit_code == 0
    assert cli(stack, "search-show", found.id).exit_code != 0
