"""What a forecast costs Redis, counted by Redis itself (tests/redis_counts.py; bench/forecast_hops.py prints it):
the API admits it in one script call (model record, lane cap) and takes its answer in its share of one inbox pop;
the worker pops it and delivers its answer in one pipeline."""

from __future__ import annotations

import asyncio
import json

from rnncast.common.forecasts import Queued
from rnncast.common.sessions import ADMITTED
from rnncast.common.store import Keys
from rnncast.common.store.aio import AsyncJobStore
from rnncast.common.store.lane_ops import Admitted
from tests.redis_counts import per_unit
from tests.service.test_models import train_model
from tests.support import RedisServer

QUEUED, FULL = Admitted.QUEUED, Admitted.FULL

# Redis's own count per forecast at one client: the admission script with its GET and LPUSH, the inbox's pop,
# the worker's pop, its RPUSH and EXPIRE. Half a command above: what the idle spell's subtraction leaves.
COMMANDS = 7.5
ROUND_TRIPS = 4.5  # the admission, the inbox pop, the worker's pop and its delivery


def test_a_forecast_costs_seven_redis_commands_in_four_round_trips(stack):
    model = train_model(stack, name="hops")
    url = f"/v1/models/{model['id']}/forecast"

    def forecast() -> None:
        assert stack.api.http.post(url, json={"start": 50.0, "horizon": 5}).status_code == 200

    forecast()
    # The least of three counts: other work on the session's Redis (a job of an earlier test ending) only adds.
    tries = [per_unit(stack.r, forecast, 30) for _ in range(3)]
    assert min(c.commands for c in tries) <= COMMANDS, tries
    assert min(c.round_trips for c in tries) <= ROUND_TRIPS, tries


def test_the_admission_answers_a_missing_model_and_sends_a_found_ones_record_with_the_request(site):
    api = site(forecast_timeout="1")  # no worker here: what is queued stays queued
    lane = site.redis.client()
    job = api.http.post("/v1/jobs", json={"cell": "GRU", "epochs": 5}).json()
    early = api.http.post(f"/v1/models/{job['id']}/forecast", json={"start": 1.0, "horizon": 3})
    assert early.status_code == 409 and early.json()["detail"] == (
        f"job {job['id']} is queued; its model appears when it succeeds")
    unknown = api.http.post(f"/v1/models/{'0' * 32}/forecast", json={"start": 1.0, "horizon": 3})
    assert unknown.status_code == 404 and unknown.json()["detail"] == f"model {'0' * 32!r} not found"
    assert lane.llen(Keys.forecasts) == 0  # neither went to a worker
    record = json.dumps({"id": "1" * 32, "checkpoint": {"sha256": "2" * 64}})
    lane.set(Keys.model("1" * 32), record)
    late = api.http.post(f"/v1/models/{'1' * 32}/forecast", json={"start": 1.0, "horizon": 3})
    assert late.status_code == 503  # queued, and nobody answered
    (queued,) = lane.lrange(Keys.forecasts, 0, -1)
    request, _, sent = queued.partition("\n")
    assert json.loads(request)["model_id"] == "1" * 32 and sent == record


def test_one_admission_queues_the_first_requests_within_the_cap_and_answers_each(tmp_path):
    redis_server = RedisServer(tmp_path).start()  # its own: no worker pops this lane
    client = redis_server.client()
    found, missing, job = "1" * 32, "2" * 32, "3" * 32
    client.set(Keys.model(found), json.dumps({"id": found}))
    client.hset(Keys.job(job), mapping={"status": "running", "epoch": "4"})

    async def admit() -> tuple[list, list]:
        store = AsyncJobStore.from_url(redis_server.url)
        try:
            first = await store.admit_forecasts(
                [(missing, "", "m"), (found, "", "a"), (job, "", "j"), ("", "", "bare"), (found, "", "b"),
                 (found, "", "c")], 3, 5, ("status", "epoch"))
            return first, await store.admit_forecasts([(found, "", "d")], 3, None, ("status",))
        finally:
            await store.close()

    try:
        first, full = asyncio.run(admit())
        lane, ttl = client.lrange(Keys.forecasts, 0, -1), client.ttl(Keys.forecasts)
    finally:
        redis_server.stop()
    assert first == [{"status": None, "epoch": None}, QUEUED, {"status": "running", "epoch": "4"}, QUEUED, QUEUED, FULL]
    assert full == [FULL]  # the lane is at its cap: nothing more stays queued
    record = json.dumps({"id": found})
    assert lane == [f"b\n{record}", "bare", f"a\n{record}"]
    assert 0 < ttl <= 5


def test_an_observe_is_admitted_with_its_session_and_its_models_record_and_a_gone_one_is_404(tmp_path):
    """The admission reads an observe's session (its count, its state, its model's record) and queues them with
    the request (the session as the request's `admitted` field, the record after it, as a forecast's), so the
    worker reads nothing; a session that is gone is answered at once and nothing is queued. A hash that names no
    model (written before hashes did) goes with its state and no record."""
    redis_server = RedisServer(tmp_path).start()  # its own: no worker pops this lane
    client = redis_server.client()
    model, live, gone, old = "1" * 32, "2" * 32, "3" * 32, "4" * 32
    record = json.dumps({"id": model})
    client.set(Keys.model(model), record)
    state = '{"window":[0.5],"note":"a/b"}'  # a "/": Redis's JSON writes it "\/", which reads back as it was
    client.hset(Keys.session(live), mapping={"observed": "12", "state": state, "model": model})
    client.hset(Keys.session(old), mapping={"observed": "7", "state": '{"window":[2.5]}'})

    async def admit() -> list:
        store = AsyncJobStore.from_url(redis_server.url)
        try:
            return await store.admit_forecasts(
                [("", live, '{"id":"a"}'), ("", gone, '{"id":"g"}'), ("", old, '{"id":"o"}'), (model, "", "{}")],
                10, 5, ("status",))
        finally:
            await store.close()

    try:
        admitted = asyncio.run(admit())
        lane = client.lrange(Keys.forecasts, 0, -1)
    finally:
        redis_server.stop()
    assert admitted == [QUEUED, Admitted.SESSION_GONE, QUEUED, QUEUED]
    queued = [Queued.of(raw) for raw in reversed(lane)]
    assert [q.record for q in queued] == [record, None, record]
    assert [json.loads(q.request) for q in queued] == [
        {"id": "a", ADMITTED: ["12", state]}, {"id": "o", ADMITTED: ["7", '{"window":[2.5]}']}, {}]


def test_an_observe_costs_four_round_trips_as_a_forecast_does_and_the_worker_reads_nothing(stack):
    """The API's admission (the session, its model's record, the lane) and its share of an inbox pop; the
    worker's pop, and one script that saves the state (only if unchanged) and pushes the answer: no read of the
    session or the record by the worker, no round trip of its own for the answer."""
    model = train_model(stack, name="session-hops")
    opened = stack.api.http.post(f"/v1/models/{model['id']}/sessions", json={"window": [0.5] * 12})
    assert opened.status_code == 201, opened.text
    url = f"/v1/sessions/{opened.json()['session_id']}/observe"

    def observe() -> None:
        assert stack.api.http.post(url, json={"values": [0.25]}).status_code == 200

    observe()
    tries = [per_unit(stack.r, observe, 30) for _ in range(3)]
    # admission: the script, HMGET, GET, LPUSH; inbox pop; worker's pop; the save: the script, HGET, HSET,
    # PEXPIRE, RPUSH, EXPIRE. Half a command above: what the idle spell's subtraction leaves.
    assert min(c.commands for c in tries) <= 12.5, tries
    assert min(c.round_trips for c in tries) <= ROUND_TRIPS, tries
