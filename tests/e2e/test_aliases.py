"""Model aliases and promotion gates against the real stack: a real Redis, API and Celery worker, and a local
webhook receiver. docs/guides/promotion.md's commands are run here (`test_the_pages_commands`)."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rnncast.client.aliases import PromotionRefused
from rnncast.client.api import Client
from rnncast.client.cli import app
from rnncast.common.aliases import ALIAS_HISTORY_KEPT
from rnncast.common.webhooks import verify
from tests.support import TINY, Api, wait_until
from tests.webhook_receiver import receiver_stack

GOOD = {"cell": "GRU", **TINY, "hidden_size": 8, "epochs": 80, "lr": 0.02, "name": "good"}
POOR = {"cell": "GRU", **TINY, "epochs": 1, "lr": 0.001, "name": "poor"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "guides" / "promotion.md"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Any]:
    # A model an alias left is kept for RNNCAST_FORECAST_TIMEOUT (and a little): shorter here, so that a test
    # deleting one waits less.
    with receiver_stack(tmp_path_factory.mktemp("aliases"), {"RNNCAST_FORECAST_TIMEOUT": "15"}) as made:
        yield made


def train(api: Api, body: dict[str, Any]) -> str:
    job = api.http.post("/v1/jobs", json=body)
    assert job.status_code == 202, job.text
    done = api.wait_job(job.json()["id"], timeout=120)
    assert done["status"] == "succeeded", done
    return str(done["model_id"])


@pytest.fixture(scope="module")
def good(stack) -> str:
    return train(stack.api, GOOD)


@pytest.fixture(scope="module")
def poor(stack) -> str:
    return train(stack.api, POOR)


def move(api: Api, name: str, model_id: str, **require: float) -> Any:
    body = {"model_id": model_id, **({"require": require} if require else {})}
    return api.http.post(f"/v1/aliases/{name}", json=body)


def test_forecasts_through_a_moving_alias_never_see_a_missing_model(stack, good, poor):
    assert move(stack.api, "race", good).status_code == 200
    stop, moves = threading.Event(), [0]

    def mover() -> None:
        with Client(stack.api.url) as c:
            while not stop.is_set():
                c.set_alias("race", poor if moves[0] % 2 == 0 else good)
                moves[0] += 1

    thread = threading.Thread(target=mover)
    thread.start()
    answers = []
    try:
        for i in range(150):  # the fast path (JSON) and the route (a PNG), both resolving @race
            answers.append(stack.api.http.post("/v1/models/@race/forecast", json={"start": 60.0, "horizon": 5}))
            if i % 25 == 0:
                answers.append(stack.api.http.get("/v1/models/@race/forecast.png", params={"horizon": 5}))
                answers.append(stack.api.http.get("/v1/models/@race"))
    finally:
        stop.set()
        thread.join(30)
    assert moves[0] >= 2
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers if a.status_code != 200]
    served = {a.json().get("model_id") or a.json()["id"] for a in answers
              if a.headers["content-type"] == "application/json"}
    assert served <= {good, poor}
    alias = stack.api.http.get("/v1/aliases/race").json()
    assert alias["moves"] == moves[0] + 1 and len(alias["history"]) == min(moves[0] + 1, ALIAS_HISTORY_KEPT)
    assert [m["seq"] for m in alias["history"]] == sorted(m["seq"] for m in alias["history"])


def test_a_gate_refuses_a_worse_candidate_with_its_figures(stack, good, poor):
    api = stack.api
    assert move(api, "prod", good).status_code == 200
    refused = move(api, "prod", poor, skill_over_seasonal_naive=-100)  # any bar: it must still beat the current
    assert refused.status_code == 409, refused.text
    body = refused.json()
    evidence = body["evidence"]
    assert evidence["passed"] is False and evidence["candidate"]["model_id"] == poor
    assert evidence["current"]["model_id"] == good
    mine, theirs = (evidence[k]["skill_over_seasonal_naive"] for k in ("candidate", "current"))
    assert mine < theirs and f"{mine:.4g}" in body["detail"] and f"{theirs:.4g}" in body["detail"]
    assert api.http.get("/v1/aliases/prod").json()["model_id"] == good  # the alias stayed
    # The figures came from backtests run for the gate, kept as each model's verdict (and reused next time).
    assert evidence["candidate"]["source"] == "backtest"
    kept = api.http.get(f"/v1/models/{poor}").json()["backtest"]
    assert kept["skill_over_seasonal_naive"] == mine
    again = move(api, "prod", poor, skill_over_seasonal_naive=-100).json()["evidence"]
    assert again["candidate"]["source"] == again["current"]["source"] == "verdict"
    # A bar the candidate misses, on a new alias (nothing to beat but the bar).
    high = move(api, "fresh", good, skill_over_seasonal_naive=0.999999).json()
    assert "misses the bar" in high["detail"] and high["evidence"]["current"] is None
    assert api.http.get("/v1/aliases/fresh").status_code == 404


def test_a_passing_gate_moves_and_records_the_evidence(stack, good, poor):
    api = stack.api
    assert move(api, "champion", poor).status_code == 200
    moved = move(api, "champion", good, skill_over_seasonal_naive=-100)
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert answer["moved"] and answer["previous_model_id"] == poor and answer["evidence"]["passed"]
    last = answer["alias"]["history"][-1]
    assert last["from"] == poor and last["to"] == good and last["evidence"] == answer["evidence"]
    with Client(api.url) as c:
        with pytest.raises(PromotionRefused) as caught:
            c.set_alias("champion", poor, require={"skill_over_seasonal_naive": -100})
        assert caught.value.evidence.current is not None and caught.value.evidence.current.model_id == good
        assert c.alias("champion").history[-1].evidence is not None


def test_a_dataset_models_training_verdict_is_reused_as_evidence(stack):
    api = stack.api
    values = [math.sin(2 * math.pi * t / 12) + 0.01 * t + 0.1 * math.sin(7.3 * t) for t in range(300)]
    dataset = api.http.post("/v1/datasets", json={"name": "gated", "values": values})
    assert dataset.status_code == 201, dataset.text
    body = {"cell": "GRU", **TINY, "data": {"dataset_id": dataset.json()["id"]}}
    model_id = train(api, body)
    kept = api.http.get(f"/v1/models/{model_id}").json()["backtest"]  # the backtest at the end of training
    assert kept["skill_over_seasonal_naive"] is not None and kept["coverage_error_pp"] is None
    judged = move(api, "from-training", model_id, skill_over_seasonal_naive=-100)  # passed (200) or not (409)
    assert judged.status_code in (200, 409), judged.text
    figures = judged.json()["evidence"]["candidate"]
    assert figures["source"] == "verdict" and figures["at"] == kept["at"]
    assert figures["skill_over_seasonal_naive"] == kept["skill_over_seasonal_naive"]
    # Coverage is not in that verdict: asking for it runs the gate's backtest (and keeps its verdict).
    again = move(api, "from-training-2", model_id, coverage_error_pp=100)
    assert again.status_code == 200, again.text
    figures = again.json()["evidence"]["candidate"]
    assert figures["source"] == "backtest" and figures["coverage_error_pp"] is not None
    assert api.http.get(f"/v1/models/{model_id}").json()["backtest"]["at"] == figures["at"]


def test_alias_moved_reaches_a_webhook_receiver_signed_once(stack, good, poor):
    api = stack.api
    hook = api.http.post("/v1/webhooks", json={"url": stack.receiver.url, "events": ["alias.moved"]}).json()
    move(api, "hooked", good)
    move(api, "hooked", good)  # unchanged: no move, no event
    move(api, "hooked", poor)

    def arrived() -> list[Any] | None:
        rows = api.http.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"]
        return rows if len(rows) == 2 and all(r["state"] == "delivered" for r in rows) else None

    rows = wait_until(arrived, timeout=60)
    got = {d: copies for d, copies in stack.receiver.by_id().items() if d in {r["id"] for r in rows}}
    assert len(got) == 2 and all(len(copies) == 1 for copies in got.values())
    bodies = []
    for delivery_id, [item] in got.items():
        assert verify(hook["secret"], item.headers, item.body, now=time.time())
        body = json.loads(item.body)
        assert body["id"] == delivery_id and body["event"] == "alias.moved"
        bodies.append(body["data"])
    assert sorted((d["from"] or "", d["to"]) for d in bodies) == sorted([("", good), (good, poor)])
    assert {d["alias"] for d in bodies} == {"hooked"}
    assert sorted(r["subject"] for r in rows) == ["hooked#1", "hooked#2"]
    api.http.delete(f"/v1/webhooks/{hook['id']}")


def test_unknown_alias_is_404_and_a_bad_name_is_422_changing_nothing(stack, good):
    api = stack.api
    before = api.http.get("/v1/aliases").json()
    assert api.http.post("/v1/models/@nobody/forecast", json={"start": 60.0, "horizon": 5}).status_code == 404
    for path in ("/v1/models/@nobody", "/v1/aliases/nobody"):
        answer = api.http.get(path)
        assert answer.status_code == 404 and "alias 'nobody' not found" in answer.text
    assert api.http.delete("/v1/aliases/nobody").status_code == 404
    for bad in ("Prod", "-x", "a" * 64, "a b", "a:b"):
        answer = move(api, bad, good)
        assert answer.status_code == 422, (bad, answer.text)
    misnamed = api.http.post("/v1/models/@Bad!/forecast", json={"horizon": 5})
    assert misnamed.status_code == 404 and "is not valid" in misnamed.text  # no alias can have that name
    unknown = move(api, "ok", "0" * 32)
    assert unknown.status_code == 404 and "model" in unknown.text
    gate = move(api, "ok", good, skill_over_seasonal_naive=2)
    assert gate.status_code == 422 and "skill_over_seasonal_naive" in gate.text
    assert api.http.get("/v1/aliases").json() == before


def test_a_model_an_alias_points_at_is_not_deleted(stack):
    api = stack.api
    doomed = train(api, POOR | {"seed": 7})
    assert move(api, "keep", doomed).status_code == 200
    assert move(api, "also", doomed).status_code == 200
    # Its record names the aliases pointing at it, alone and in the list.
    assert api.http.get(f"/v1/models/{doomed}").json()["aliases"] == ["also", "keep"]
    listed = {m["id"]: m["aliases"] for m in api.http.get("/v1/models", params={"limit": 1000}).json()["data"]}
    assert listed[doomed] == ["also", "keep"]
    assert api.http.delete("/v1/aliases/also").status_code == 204
    assert api.http.get(f"/v1/models/{doomed}").json()["aliases"] == ["keep"]
    refused = api.http.delete(f"/v1/models/{doomed}")
    assert refused.status_code == 409 and "@keep" in refused.text
    assert api.http.get(f"/v1/models/{doomed}").status_code == 200
    assert api.http.delete("/v1/aliases/keep").status_code == 204
    # Requests that resolved @keep to it may still be in flight: kept a while more, then deleted.
    soon = api.http.delete(f"/v1/models/{doomed}")
    assert soon.status_code == 409 and "retry in" in soon.text and int(soon.headers["Retry-After"]) <= 17
    wait_until(lambda: api.http.delete(f"/v1/models/{doomed}").status_code == 204, timeout=40, interval=1)
    gone = move(api, "keep", doomed)
    assert gone.status_code == 404 and api.http.get("/v1/aliases/keep").status_code == 404


def page_commands() -> list[tuple[str, bool]]:
    """Every `$ rnncast ...` line of the page's console blocks, in order, and whether the page shows it refused
    (its output's first line starts `refused:`)."""
    lines = [line for block in re.findall(r"```console\n(.*?)```", DOCS.read_text(), re.S)
             for line in block.splitlines()]
    return [(line.removeprefix("$ "), i + 1 < len(lines) and lines[i + 1].startswith("refused:"))
            for i, line in enumerate(lines) if line.startswith("$ rnncast")]


def test_the_pages_commands(stack):
    api = stack.api
    ids: dict[str, str] = {"RECEIVER_URL": stack.receiver.url}
    commands = page_commands()
    assert sum(refused for _, refused in commands) == 1
    for command, refused in commands:
        for name, value in ids.items():
            command = command.replace(f"<{name}>", value)
        args = [*command.split()[1:], "--url", api.url]
        result = CliRunner().invoke(app, args)
        if refused:
            assert result.exit_code == 1 and "candidate" in result.output and "current" in result.output, result.output
            continue
        assert result.exit_code == 0, (command, result.output)
        if args[0] == "train":
            job_id = re.findall(r"[0-9a-f]{32}", result.output)[0]
            ids["GOOD" if "--name good" in command else "POOR"] = api.wait_job(job_id, timeout=120)["model_id"]
    assert set(ids) == {"RECEIVER_URL", "GOOD", "POOR"}
    assert api.http.get("/v1/aliases/production").status_code == 404  # the page ends by deleting it

    def told() -> list[Any]:
        return [body["data"] for body in (json.loads(r.body) for r in stack.receiver.got)
                if body["event"] == "alias.moved" and body["data"]["alias"] == "production"]

    [moved] = wait_until(told, timeout=60)  # the one move the page made; the refused one sent nothing
    assert moved["to"] == ids["GOOD"] and moved["from"] is None
