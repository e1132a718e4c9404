"""`rnncast stream` and the client's session calls, as docs/guides/streaming.md shows them, on the real stack."""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import re
import shlex
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from rnncast.client.api import Client
from rnncast.client.cli import app
from rnncast.client.errors import ApiUnavailable
from rnncast.common.sessions import gone_detail
from tests.service.test_models import forecast, train_model

DOCS = Path(__file__).resolve().parents[2] / "docs" / "guides" / "streaming.md"
VALUES = [math.sin(2 * math.pi * k / 20) for k in range(90)]


def page_block(lang: str) -> str:
    [block] = re.findall(rf"```{lang}\n(.*?)```", DOCS.read_text(), re.S)
    return block


def test_the_pages_stream_command_prints_each_updated_forecast(stack, tmp_path, monkeypatch):
    model = train_model(stack, cell="LSTM", name="stream-cli")
    monkeypatch.chdir(tmp_path)
    Path("values.txt").write_text("".join(f"{v!r}\n" for v in VALUES[:13]))
    command = page_block("sh").splitlines()[0].replace("<MODEL_ID>", model["id"])
    args = shlex.split(command)
    assert args[0] == "rnncast"
    run = CliRunner().invoke(app, [*args[1:], "--url", stack.api.url])
    assert run.exit_code == 0, run.output
    lines = run.output.strip().splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == [10, 11, 12, 13]  # opened with sequence_length values
    last = forecast(stack, model["id"], context=VALUES[:13], horizon=3).json()["y"]
    assert lines[-1].split("\t")[1] == " ".join(f"{y:.6g}" for y in last)
    piped = CliRunner().invoke(
        app,
        ["stream", model["id"], "--horizon", "1", "--json", "--url", stack.api.url],
        input="".join(f"{v!r}\n" for v in VALUES[:12]),
    )
    answers = [json.loads(line) for line in piped.output.strip().splitlines()]
    assert [a["observed"] for a in answers] == [10, 11, 12] and len(answers[-1]["forecast"]["y"]) == 1
    # Bad input is the input's fault, not the command line's: one line naming it, exit code 1, no usage text.
    bad = CliRunner().invoke(app, ["stream", model["id"], "--url", stack.api.url], input="1\n2\nthree\n")
    assert bad.exit_code == 1 and "error: line 3: 'three' is not a number; no session was opened" in bad.output
    short = CliRunner().invoke(app, ["stream", model["id"], "--url", stack.api.url], input="1\n2\n")
    assert short.exit_code == 1, short.output
    assert "error: the input ended after 2 values; the session opens with 10 (--window)" in short.output
    values = "".join(f"{v!r}\n" for v in VALUES[:11])
    for word in ("nan", "inf", "1e400"):  # a one-line error naming the line, not a traceback
        odd = CliRunner().invoke(app, ["stream", model["id"], "--url", stack.api.url], input=values + word + "\n")
        assert odd.exit_code == 1, odd.output
        assert (f"error: line 12: '{word}' is not a finite number; stopped after 11 values, ending the session"
                in odd.output.replace("\n", " ")), odd.output
        assert "Traceback" not in odd.output and "Usage" not in odd.output


def test_stream_says_its_ttl_when_the_session_expired_between_two_values(stack, tmp_path):
    """A live feed that pauses past --ttl-s: the next value finds the session gone, and the error says why."""
    model = train_model(stack, cell="LSTM", name="stream-pause")
    feed = tmp_path / "feed"
    os.mkfifo(feed)

    def write() -> None:
        with contextlib.suppress(OSError), feed.open("w") as fh:  # the command may have stopped reading
            fh.write("".join(f"{v!r}\n" for v in VALUES[:11]))
            fh.flush()
            time.sleep(5)  # the session (--ttl-s 2) expires meanwhile
            fh.write("0.5\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        run = CliRunner().invoke(app, ["stream", model["id"], "--from-file", str(feed), "--ttl-s", "2", "--url",
                                       stack.api.url])
    finally:
        writer.join(timeout=30)
        if writer.is_alive():  # the command never opened the feed: a reader releases the writer
            os.close(os.open(feed, os.O_RDONLY | os.O_NONBLOCK))
    assert [int(line.split("\t")[0]) for line in run.stdout.strip().splitlines()] == [10, 11]
    assert run.exit_code == 1, run.output
    said = run.output.replace("\n", " ")
    assert "404" in said and "a session lives --ttl-s 2 s after its last value" in said, run.output


def test_the_pages_python_example_runs(stack, capsys):
    model = train_model(stack, cell="GRU", name="stream-python", sequence_length=80)
    space = {"url": stack.api.url, "model_id": model["id"], "values": VALUES}
    exec(page_block("python"), space)
    printed = capsys.readouterr().out.strip().splitlines()
    assert [int(line.split()[0]) for line in printed] == [82, 83, 84, 85]  # the stream's answers
    with Client(stack.api.url) as c:
        assert c.forecast(model["id"], context=VALUES[:85], horizon=3).y == ast.literal_eval(
            printed[-1].split(" ", 1)[1]
        )


def test_the_pages_404_detail_is_the_one_the_api_sends():
    assert gone_detail("<sid>") in DOCS.read_text().replace("\n", " ")


def test_a_session_is_read_and_ended_by_its_id_from_the_command_line(stack):
    """`rnncast session show` and `end`, as the page names them; a session gone is one line and exit 1."""
    model = train_model(stack, cell="LSTM", name="session-cli")
    assert "`rnncast session show <SID>`" in DOCS.read_text() and "`rnncast session end <SID>`" in DOCS.read_text()
    with Client(stack.api.url) as c:
        sid = c.open_session(model["id"], VALUES[:12], horizon=2).session_id
    show = CliRunner().invoke(app, ["session", "show", sid, "--url", stack.api.url])
    assert show.exit_code == 0 and f"{sid}: model {model['id']}, 12 values seen" in show.output, show.output
    record = json.loads(CliRunner().invoke(app, ["session", "show", sid, "--json", "--url", stack.api.url]).output)
    assert record["observed"] == 12 and record["horizon"] == 2
    ended = CliRunner().invoke(app, ["session", "end", sid, "--url", stack.api.url])
    assert ended.exit_code == 0 and f"{sid}: ended" in ended.output
    gone = CliRunner().invoke(app, ["session", "show", sid, "--url", stack.api.url])
    assert gone.exit_code == 1 and f"404: {gone_detail(sid)}" in gone.output.replace("\n", " ")
    assert "Traceback" not in gone.output


def test_stream_observes_over_http_where_the_sessions_stream_does_not_open(stack, monkeypatch):
    """A proxy that does not pass a WebSocket's upgrade on: `rnncast stream` says so once and goes on over HTTP."""
    model = train_model(stack, cell="RNN", name="stream-fallback")

    def no_stream(self, session_id, observed=None):
        raise ApiUnavailable("cannot open session's stream: HTTP 502")

    monkeypatch.setattr(Client, "stream_session", no_stream)
    run = CliRunner().invoke(app, ["stream", model["id"], "--horizon", "2", "--url", stack.api.url],
                             input="".join(f"{v!r}\n" for v in VALUES[:12]))
    assert run.exit_code == 0, run.output
    assert run.output.count("observing over HTTP") == 1
    answers = [line for line in run.output.splitlines() if "\t" in line]
    assert [int(line.split("\t")[0]) for line in answers] == [10, 11, 12]
    last = forecast(stack, model["id"], context=VALUES[:12], horizon=2).json()["y"]
    assert answers[-1].split("\t")[1] == " ".join(f"{y:.6g}" for y in last)
