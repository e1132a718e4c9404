"""A session's stream (`/v1/sessions/{id}/stream`, a WebSocket) on the real stack: each message is answered as
its observe over HTTP is, the upgrade passes the Gate as a state-changing request does, and streams are capped,
closed when idle and bounded in their messages."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import signal
import socket
import threading
import time

import psutil
import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect

from rnncast.client.api import Client
from rnncast.client.errors import ApiUnavailable, InvalidRequest, NotFound
from rnncast.common.forecasts import Answer
from rnncast.common.sessions import STREAM_GONE as GONE
from rnncast.common.sessions import STREAM_IDLE as IDLE
from rnncast.common.sessions import STREAM_PATH, gone_detail
from rnncast.common.sessions import STREAM_TOO_BIG as TOO_BIG
from rnncast.common.settings import Settings
from rnncast.service.gate import refuse
from rnncast.service.route_paths import route_of
from rnncast.service.routes import sessions
from rnncast.service.session_stream import SessionStream
from rnncast.service.websocket import CLOSE_GRACE_S, BoundedWebSocket
from tests.service.test_models import forecast, train_model
from tests.support import ROOT, Api, wait_until

SINE = [math.sin(2 * math.pi * k / 20) for k in range(60)]
KEY = "stream-key-0123456789"


@pytest.fixture(scope="module")
def model(stack):
    return train_model(stack, cell="GRU", name="session-streams")


def ws_url(api: Api, session_id: str) -> str:
    return api.url.replace("http://", "ws://") + STREAM_PATH.format(session_id=session_id)


def opened(api: Api, model_id: str, **body) -> str:
    r = api.http.post(f"/v1/models/{model_id}/sessions", json={"window": SINE[:12], **body},
                      headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 201, r.text
    return r.json()["session_id"]


def ask(ws, message: str) -> dict:
    ws.send(message)
    return json.loads(ws.recv(timeout=30))


def refused(url: str, **kwargs) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as caught:
        connect(url, open_timeout=30, **kwargs)
    return caught.value.response.status_code, json.loads(bytes(caught.value.response.body))


def test_each_message_is_answered_as_its_observe_over_http(stack, model):
    http, model_id = stack.api.http, model["id"]
    sid = opened(stack.api, model_id, horizon=2)
    seen = SINE[:12]
    with connect(ws_url(stack.api, sid)) as ws:
        for chunk, horizon in (([SINE[12]], None), (SINE[13:16], 5), ([SINE[16]], None)):
            seen = seen + chunk
            body = {"values": chunk} | ({"horizon": horizon} if horizon else {})
            answer = ask(ws, json.dumps(body))
            assert answer.pop("status") == 200, answer
            full = forecast(stack, model_id, context=seen, horizon=horizon or 2).json()
            assert answer["forecast"] == full and answer["observed"] == len(seen) and answer["session_id"] == sid
        # bad messages: the observe's 422, word for word; the session unchanged; the stream goes on
        for bad in ('{"values": []}', '{"values": ["1.0"]}', '{"values": [1.0], "horizon": 0}', '{"vals": [1]}'):
            answer = ask(ws, bad)
            over_http = http.post(f"/v1/sessions/{sid}/observe", content=bad,
                                  headers={"Content-Type": "application/json"})
            assert answer == {"status": 422, **over_http.json()}, answer
        for not_json in ("nope", '{"values": [NaN]}', "[1, 2", "[" * 100_000, "", ' {"values": [1é'):  # the route's
            answer = ask(ws, not_json)
            over_http = http.post(f"/v1/sessions/{sid}/observe", content=not_json.encode(),
                                  headers={"Content-Type": "application/json"})
            assert answer == {"status": 422, **over_http.json()}, answer
        assert http.get(f"/v1/sessions/{sid}").json()["observed"] == len(seen)
        answer = ask(ws, json.dumps({"values": [SINE[17]]}))
        assert answer["status"] == 200 and answer["observed"] == len(seen) + 1
        # an observe over HTTP meanwhile is the same session: the stream's next answer goes on from it
        assert http.post(f"/v1/sessions/{sid}/observe", json={"values": [SINE[18]]}).status_code == 200
        answer = ask(ws, json.dumps({"values": [SINE[19]]}))
        assert answer["observed"] == len(seen) + 3
        assert answer["forecast"] == forecast(stack, model_id, context=SINE[:20], horizon=2).json()


def test_the_client_streams_and_a_session_gone_midstream_is_404_and_ends_it(stack, model):
    sid = opened(stack.api, model["id"], horizon=3)
    with Client(stack.api.url) as client, client.stream_session(sid) as stream:
        answer = stream.observe(SINE[12:14])
        assert answer.observed == 14
        assert answer.forecast.y == forecast(stack, model["id"], context=SINE[:14], horizon=3).json()["y"]
        with pytest.raises(InvalidRequest):
            stream.observe([math.nan])  # refused before sending: JSON cannot carry it
        assert stream.observe([SINE[14]], horizon=1).observed == 15
        assert stack.api.http.delete(f"/v1/sessions/{sid}").status_code == 204
        with pytest.raises(NotFound) as gone:
            stream.observe([1.0])
        assert gone.value.detail == gone_detail(sid)
        with pytest.raises(NotFound):  # the stream was closed (4404), and opening it again is refused (404)
            stream.observe([1.0])
        with pytest.raises(ApiUnavailable, match="closed"):
            stream.observe([1.0])
    with Client(stack.api.url) as client, pytest.raises(NotFound):
        client.stream_session(sid)
    other = opened(stack.api, model["id"])
    with connect(ws_url(stack.api, other)) as ws:
        stack.api.http.delete(f"/v1/sessions/{other}")
        assert ask(ws, '{"values": [1.0]}')["status"] == 404
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        assert ws.close_code == 4404


def test_a_gone_or_malformed_session_refuses_the_upgrade_404(stack):
    for sid in ("0" * 32, "not-an-id"):
        assert refused(ws_url(stack.api, sid)) == (404, {"detail": gone_detail(sid)})
    for typo in ("/v1/sessions/abc/streem", "/v1/session/abc/stream", "/v1/sessions/abc/stream/"):
        status, body = refused(stack.api.url.replace("http://", "ws://") + typo)
        assert status == 404 and STREAM_PATH in body["detail"], body


def test_a_message_is_read_as_the_routes_body_is_read(stack, model):
    """A byte-order mark before the JSON: the route reads its body's bytes (json takes the mark), so the stream
    reads a message so too."""
    sid = opened(stack.api, model["id"])
    with connect(ws_url(stack.api, sid)) as ws:
        assert ask(ws, '\ufeff{"values": [0.5]}')["observed"] == 13
        ws.send(b'\xef\xbb\xbf{"values": [0.5]}')
        assert json.loads(ws.recv(timeout=30))["observed"] == 14
    over_http = stack.api.http.post(f"/v1/sessions/{sid}/observe", content=b'\xef\xbb\xbf{"values": [0.5]}',
                                    headers={"Content-Type": "application/json"})
    assert over_http.status_code == 200 and over_http.json()["observed"] == 15


@pytest.fixture(scope="module")
def keyed(stack, tmp_path_factory):
    api = Api(stack.redis.url, stack.data_dir, tmp_path_factory.mktemp("keyed") / "api.log",
              extra={"RNNCAST_API_KEY": KEY})
    yield api
    api.stop()


def test_the_upgrade_passes_the_gate(stack, keyed, model):
    sid = opened(keyed, model["id"])
    url, right = ws_url(keyed, sid), {"Authorization": f"Bearer {KEY}"}
    assert refused(url)[0] == 401
    assert refused(url, additional_headers={"X-API-Key": "wrong-key-0123456789"})[0] == 401
    with connect(url, additional_headers=right) as ws:
        assert ask(ws, '{"values": [0.5]}')["status"] == 200
    with Client(keyed.url, api_key=KEY) as client, client.stream_session(sid) as stream:
        assert stream.observe([0.25]).observed == 14
    # a page of another site cannot open one, key or none (browsers send any page's upgrade, with its cookies)
    for api, headers in ((keyed, right), (stack.api, {})):
        status, body = refused(ws_url(api, sid), origin="http://evil.example", additional_headers=headers)
        assert status == 403 and "cross-site" in body["detail"]
    # without a key, a Host other than loopback's is refused (a rebound DNS name)
    status, _ = refused(ws_url(stack.api, sid), additional_headers={"Host": "evil.example"})
    assert status == 421


def test_refusing_an_upgrade_on_a_server_without_http_denials_closes_it():
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(refuse({"type": "websocket", "extensions": {}}, send, 401, "missing key"))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "missing key"}]


@pytest.fixture(scope="module")
def bounded(stack, tmp_path_factory):
    api = Api(stack.redis.url, stack.data_dir, tmp_path_factory.mktemp("bounded") / "api.log", extra={
        "RNNCAST_MAX_SESSION_STREAMS": "2", "RNNCAST_SESSION_STREAM_IDLE_S": "1.5",
        "RNNCAST_MAX_BODY_BYTES": "2048"})
    yield api
    api.stop()


def test_streams_are_capped_per_process_and_a_place_comes_back_when_one_ends(bounded, model):
    sid = opened(bounded, model["id"])
    with connect(ws_url(bounded, sid)), connect(ws_url(bounded, sid)) as second:
        status, body = refused(ws_url(bounded, sid))
        assert status == 429 and "RNNCAST_MAX_SESSION_STREAMS" in body["detail"]
        assert ask(second, '{"values": [0.5]}')["status"] == 200  # those open serve on
    deadline = time.monotonic() + 10
    while True:  # the server sees the close shortly after
        try:
            with connect(ws_url(bounded, sid)) as ws:
                assert ask(ws, '{"values": [0.5]}')["status"] == 200
            break
        except InvalidStatus:
            assert time.monotonic() < deadline


def test_an_idle_stream_is_closed_saying_why_and_its_session_lives_on(bounded, model):
    sid = opened(bounded, model["id"])
    with connect(ws_url(bounded, sid)) as ws:
        assert ask(ws, '{"values": [0.5]}')["status"] == 200
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        assert ws.close_code == IDLE and "RNNCAST_SESSION_STREAM_IDLE_S" in ws.close_reason
    assert bounded.http.get(f"/v1/sessions/{sid}").json()["observed"] == 13


def test_a_message_over_the_body_limit_closes_the_stream_unread(bounded, model):
    sid = opened(bounded, model["id"])
    with connect(ws_url(bounded, sid)) as ws:
        ws.send(json.dumps({"values": [0.5] * 1000}))  # ~5 kB, over 2048 bytes
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        assert ws.close_code == 1009
    assert bounded.http.get(f"/v1/sessions/{sid}").json()["observed"] == 12


def test_the_guide_states_the_streams_close_codes_and_settings():
    page = (ROOT / "docs" / "guides" / "streaming.md").read_text().replace("\n", " ")
    assert f"`{STREAM_PATH.replace('{session_id}', '{sid}')}`" in page
    for code in (GONE, IDLE, TOO_BIG):
        assert f"({code})" in page or f"(code {code})" in page, code
    for setting in ("max_session_streams", "session_stream_idle_s", "max_body_bytes"):
        assert setting in Settings.model_fields and f"`RNNCAST_{setting.upper()}`" in page
    security = (ROOT / "docs" / "operations" / "security.md").read_text().replace("\n", " ")
    assert f"one still open {CLOSE_GRACE_S:g} s after it was closed" in security
    assert f"outlives the place by at most {2 * CLOSE_GRACE_S:g} s" in security


def _served(settings: Settings, lane, received: list[dict]) -> list[dict]:
    """What a stream sends, in process, for the `received` messages (its lane `lane`: a stand-in, or None)."""
    state = type("State", (), {"settings": settings, "lane": lane})()
    stream = SessionStream(None, type("Api", (), {"state": state})(), route_of(sessions.router, sessions.observe))
    sent: list[dict] = []

    async def receive():
        return received.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(stream._serve("0" * 32, receive, send))
    return sent


def test_the_stream_bounds_a_message_itself_under_a_server_without_that_limit():
    """Under a server not started by `rnncast api` (uvicorn's message limit its own, 16 MiB): a message over
    RNNCAST_MAX_BODY_BYTES still closes the stream (1009), before it is parsed or asked of the lane."""
    sent = _served(Settings(max_body_bytes=1024, session_stream_idle_s=5), None,
                   [{"type": "websocket.receive", "text": json.dumps({"values": [0.5] * 400})}])
    assert [(m["type"], m.get("code")) for m in sent] == [("websocket.close", TOO_BIG)]
    assert "RNNCAST_MAX_BODY_BYTES" in sent[0]["reason"]


def test_the_client_opens_a_stream_closed_for_idleness_again_and_closes_one_that_failed(bounded, model):
    sid = opened(bounded, model["id"], horizon=2)
    with Client(bounded.url) as client:
        with client.stream_session(sid) as stream:
            pass
        with pytest.raises(ApiUnavailable, match="closed: it was closed"):
            stream.observe([0.5])  # closed by its `with`: it does not open itself again
        with client.stream_session(sid) as stream:
            assert stream.observe([0.5]).observed == 13
            time.sleep(2.5)  # past RNNCAST_SESSION_STREAM_IDLE_S: the server closed it, having read nothing more
            assert stream.observe([0.25]).observed == 14
            stream._timeout = 1e-6  # no answer comes that soon: this observe may be applied, or not
            with pytest.raises(ApiUnavailable, match=r"no answer .* read the session's `observed`"):
                stream.observe([0.125])
            with pytest.raises(ApiUnavailable, match="closed: no answer came"):  # no later observe takes its answer
                stream.observe([0.125])
        with client.stream_session(sid, observed=14) as stream:  # each observe states the count
            stream._timeout = 1e-6
            with pytest.raises(ApiUnavailable, match="open the session's stream with observed=14"):
                stream.observe([0.125])
            with pytest.raises(ApiUnavailable, match="closed: no answer came"):
                stream.observe([0.125])


def test_an_observe_whose_stream_is_lost_under_it_is_sent_again_and_applied_once(stack, model):
    sid = opened(stack.api, model["id"], horizon=3)
    with Client(stack.api.url) as client, client.stream_session(sid, observed=12) as stream:
        lost = stream._socket
        received = []

        def recv_then_lose(timeout=None):  # the answer came, and the connection went before it was read
            received.append(json.loads(real_recv(timeout=timeout)))
            lost.close()
            raise ConnectionClosed(None, None)

        real_recv, lost.recv = lost.recv, recv_then_lose
        answer = stream.observe(SINE[12:14])
        assert stream._socket is not lost and received[0]["observed"] == 14
        assert answer.observed == 14 and answer.forecast.y == received[0]["forecast"]["y"]
        assert answer.forecast.y == forecast(stack, model["id"], context=SINE[:14], horizon=3).json()["y"]
        assert client.session(sid).observed == 14  # applied once
        assert stream.observe([SINE[14]]).observed == 15


def test_an_unexpected_failure_is_answered_500_and_the_stream_goes_on():
    class Lane:
        asked = 0

        async def ask(self, message, timeout):
            self.asked += 1
            if self.asked == 1:
                raise RuntimeError("a fault")
            return Answer("0" * 32, 200, 1, '{"session_id": "s", "observed": 13}')

    observe = {"type": "websocket.receive", "text": '{"values": [1.0]}'}
    sent = _served(Settings(), Lane(), [observe, observe, {"type": "websocket.disconnect"}])
    assert [json.loads(m["text"]) for m in sent] == [{"status": 500, "detail": "Internal Server Error"},
                                                     {"status": 200, "session_id": "s", "observed": 13}]


def _raw_stream(api: Api, sid: str) -> socket.socket:
    """A stream's upgrade sent on a bare socket that reads (almost) nothing."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", api.port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall((f"GET {STREAM_PATH.format(session_id=sid)} HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\n"
                          f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return raw


def _flood_until_unread(raw: socket.socket) -> None:
    """Pings, with nothing read, until the server stops reading them: the send waits (a timeout), long before the
    server would drop the connection (RNNCAST_SESSION_STREAM_IDLE_S after its buffer filled). A server that read
    on, answering each with a pong, would take all 16 MiB, or drop the connection first."""
    pings = Frame(Opcode.PING, b"p" * 125).serialize(mask=True) * 64
    raw.settimeout(0.5)
    sent = 0
    with pytest.raises(TimeoutError):
        while sent < 16 * 2**20:
            raw.sendall(pings)
            sent += len(pings)


def _dropped(api: Api, raw: socket.socket) -> None:
    server, port = psutil.Process(api.proc.proc.pid), raw.getsockname()[1]
    try:
        wait_until(lambda: not any(c.raddr and c.raddr.port == port for c in server.net_connections()), timeout=20)
    finally:
        raw.close()


def test_a_client_that_never_reads_stops_being_read_and_is_dropped(bounded, model):
    """Pings with no reading: uvicorn's protocol as it comes answers every one with a pong, its buffer growing
    with what the client sends, and closes the connection by waiting, forever, for that buffer to drain. Here
    nothing is read while the buffer is full, and the connection is aborted once that has lasted
    RNNCAST_SESSION_STREAM_IDLE_S."""
    raw = _raw_stream(bounded, opened(bounded, model["id"]))
    head = b""
    while b"\r\n\r\n" not in head:  # the 101 and no more: nothing after it is ever read
        head += raw.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    _flood_until_unread(raw)
    _dropped(bounded, raw)


class _Transport:
    """What the WebSocket protocol asks of a transport, its write buffer `size` bytes."""

    def __init__(self, size: int) -> None:
        self.size, self.paused, self.closed, self.aborted = size, False, False, False

    def get_write_buffer_size(self):
        return self.size

    def write(self, data):
        self.size += len(data)

    def get_write_buffer_limits(self):
        return (16_384, 65_536)

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True

    def get_extra_info(self, name, default=None):
        return default


def _made(transport: _Transport) -> BoundedWebSocket:
    """The protocol on `transport`, made within the running loop (its timers are that loop's)."""

    async def app(scope, receive, send):
        pass

    protocol = BoundedWebSocket(config=Config(app), server_state=ServerState(), app_state={})
    protocol.connection_made(transport)
    return protocol


def test_a_connection_full_before_its_upgrade_is_not_read_either():
    """A large answer left unread on the same connection may fill its buffer before the upgrade: the transport does
    not say so again to the WebSocket protocol, which must see it for itself (and read nothing, and start the
    stall's clock); nobody resumes its reading until the buffer has drained."""

    async def check():
        transport = _Transport(100_000)
        protocol = _made(transport)
        assert transport.paused and not protocol.writable.is_set() and protocol._stalled is not None
        protocol.transport.resume_reading()  # as uvicorn does when the app takes a message, or sends its close
        assert transport.paused
        protocol.resume_writing()
        assert not transport.paused and protocol._stalled is None

    asyncio.run(check())


def test_a_closed_connection_leaves_no_abort_behind():
    """Closing arms an abort (a peer that never drains the buffer); the connection's end disarms it, so no timer
    holds a transport for long after its connection is gone."""

    async def check():
        transport = _Transport(0)
        protocol = _made(transport)
        assert protocol.close_timeout == CLOSE_GRACE_S
        protocol.transport.close()
        armed = protocol._held._abort
        assert armed is not None and not armed.cancelled()
        protocol.connection_lost(None)
        assert armed.cancelled() and not transport.aborted

    asyncio.run(check())


def test_the_client_rides_out_an_api_restart_between_observes(stack, model, tmp_path, monkeypatch):
    """A restart closes every stream (1012): one that is idle then had nothing of the next observe, which opens
    it again on the restarted API (a rolling restart does not end a slow feed)."""
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "first.log")
    try:
        sid = opened(api, model["id"])
        with Client(api.url) as client, client.stream_session(sid) as stream:
            assert stream.observe([0.5]).observed == 13
            port = api.port
            api.stop()
            monkeypatch.setattr("tests.support.free_port", lambda: port)  # the same address, as a restart keeps
            api = Api(stack.redis.url, stack.data_dir, tmp_path / "second.log")
            assert stream.observe([0.25]).observed == 14
    finally:
        api.stop()


def test_the_client_rides_out_an_api_restart_under_an_observe(stack, model, tmp_path, monkeypatch):
    """The API restarts while an observe is out (its stream closed 1012, its answer lost): the stream, knowing the
    session's count, opens again on the restarted API and sends it again, and it is applied once."""
    horizon, long = 400_000, {"RNNCAST_MAX_HORIZON": "400000"}  # an observe that takes a while to answer
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "first.log", extra=long)
    try:
        sid = opened(api, model["id"])
        with Client(api.url, timeout=60) as client, client.stream_session(sid, observed=12) as stream:
            opens, opener = [], stream._opener
            stream._opener = lambda: opens.append(1) or opener()
            answers = []
            out = threading.Thread(target=lambda: answers.append(stream.observe([0.5], horizon=horizon)))
            out.start()
            time.sleep(0.2)  # it went out: the stream waits for its answer
            port = api.port
            api.stop()
            monkeypatch.setattr("tests.support.free_port", lambda: port)  # the same address, as a restart keeps
            api = Api(stack.redis.url, stack.data_dir, tmp_path / "second.log", extra=long)
            out.join(timeout=90)
            assert answers and answers[0].observed == 13 and opens  # sent again on a new stream
            assert client.session(sid).observed == 13  # applied once
            full = api.http.post(f"/v1/models/{model['id']}/forecast",
                                 json={"context": [*SINE[:12], 0.5], "horizon": horizon}).json()
            assert answers[0].forecast.y == full["y"]
            assert stream.observe([0.25], horizon=1).observed == 14
    finally:
        api.stop()


def test_an_observe_over_http_stating_its_count_is_sent_again_when_the_api_dies_under_it(stack, model, tmp_path,
                                                                                        monkeypatch):
    """The API is killed while an observe is out (no answer, the connection dropped): the client sends it again
    until the API answers, and it is applied once."""
    horizon, long = 400_000, {"RNNCAST_MAX_HORIZON": "400000"}  # an observe that takes a while to answer
    api = Api(stack.redis.url, stack.data_dir, tmp_path / "first.log", extra=long)
    try:
        sid = opened(api, model["id"])
        with Client(api.url, timeout=60) as client:
            sent, request = [], client._request
            client._request = lambda *a, **k: sent.append(1) or request(*a, **k)
            answers = []
            out = threading.Thread(target=lambda: answers.append(client.observe(sid, [0.5], horizon=horizon,
                                                                                 after=12)))
            out.start()
            time.sleep(0.2)  # it went out: the client waits for its answer
            port = api.port
            api.proc.signal(signal.SIGKILL)
            api.proc.proc.wait(timeout=30)
            api.http.close()
            monkeypatch.setattr("tests.support.free_port", lambda: port)  # the same address, as a restart keeps
            api = Api(stack.redis.url, stack.data_dir, tmp_path / "second.log", extra=long)
            out.join(timeout=90)
            assert answers and answers[0].observed == 13 and len(sent) >= 2  # sent again
            assert client.session(sid).observed == 13  # applied once
            assert client.observe(sid, [0.25], horizon=1, after=13).observed == 14
    finally:
        api.stop()
