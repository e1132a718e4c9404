"""`rnncast stream`: a streaming session fed from a file or stdin, one updated forecast printed per value."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer

from rnncast.client.api import Client
from rnncast.client.commands import client, emit_json, handled, input_error, out
from rnncast.client.errors import AuthError, NotFound, RnncastError
from rnncast.client.options import JsonOpt, KeyOpt, UrlOpt
from rnncast.client.sessions import SessionForecast
from rnncast.common import defaults as D
from rnncast.common.search import lag


class _BadLine(ValueError):
    """A line of the input that is not a finite number."""


def _values(stream: TextIO) -> Iterator[float]:
    """Numbers as they arrive, one a line (blank lines skipped): a pipe's values are read as they come.

    Raises _BadLine at the first line that is not a finite number."""
    for number, line in enumerate(stream, 1):
        text = line.strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise _BadLine(f"line {number}: {text[:40]!r} is not a number") from None
        if not math.isfinite(value):  # JSON carries none, and a model reads none
            raise _BadLine(f"line {number}: {text[:40]!r} is not a finite number")
        yield value


def _show(answer: SessionForecast, json_: bool) -> None:
    if json_:
        typer.echo(json.dumps(answer.model_dump(exclude_none=True), separators=(",", ":")))
        return
    ys = " ".join("nan" if y is None else f"{y:.6g}" for y in answer.forecast.y)
    typer.echo(f"{answer.observed}\t{ys}")  # a tab as it is (rich would expand it): easy to cut


def _observer(
    c: Client, sid: str, observed: int, opened: contextlib.ExitStack
) -> Callable[[list[float]], SessionForecast]:
    """The session's observe, each stating the session's count (`observed` now), so one sent again is applied once:
    a message on its stream (a WebSocket), or, where the stream does not open (a proxy on the way that does not
    pass the upgrade on, the API's streams all taken), a request each, said on stderr."""
    try:
        return opened.enter_context(c.stream_session(sid, observed)).observe
    except (NotFound, AuthError):
        raise
    except RnncastError as exc:
        typer.echo(f"the session's stream did not open ({exc}); observing over HTTP, a request a value", err=True)
    count = observed

    def over_http(values: list[float]) -> SessionForecast:
        nonlocal count
        answer = c.observe(sid, values, after=count)
        count = answer.observed
        return answer

    return over_http


def stream(
    model_id: str,
    from_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Values, one a line (default: stdin).")
    ] = None,
    horizon: Annotated[int, typer.Option(min=1, help="Steps each forecast predicts.")] = D.FORECAST_HORIZON,
    window: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=(
                "Values to open the session with (default: what one forecast of the model reads: its sequence_length, "
                "plus the lag a differenced model differences from)."
            ),
        ),
    ] = None,
    ttl_s: Annotated[int, typer.Option(min=1, help="Seconds the session lives after its last value.")] = (
        D.SESSION_TTL_S
    ),
    json_: JsonOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Stream values to a model: open a session with the first window, then observe each next value on the
    session's stream (a WebSocket) and print the updated forecast (a line per value: values seen, then the
    predictions; --json: the whole answer)."""
    with client(url, api_key) as c, from_file.open() if from_file else sys.stdin as source:
        params = c.model(model_id).params
        size = window or int(params["sequence_length"]) + lag(params)
        values = _values(source)
        try:
            first = [v for _, v in zip(range(size), values, strict=False)]
        except _BadLine as exc:
            input_error(f"{exc}; no session was opened")
        if len(first) < size:
            input_error(f"the input ended after {len(first)} values; the session opens with {size} (--window)")
        answer = c.open_session(model_id, first, horizon=horizon, ttl_s=ttl_s)
        sid = answer.session_id
        try:
            _show(answer, json_)
            with contextlib.ExitStack() as opened:
                observe = _observer(c, sid, answer.observed, opened)
                for value in values:
                    answer = observe([value])
                    _show(answer, json_)
        except _BadLine as exc:  # the values before it were observed; the session ends below
            input_error(f"{exc}; stopped after {answer.observed} values, ending the session")
        except NotFound as exc:  # gone between two values: the likeliest reason is the one this command set
            raise NotFound(f"{exc} (a session lives --ttl-s {ttl_s} s after its last value: raise it for a feed "
                           f"that pauses longer)", status=exc.status, detail=exc.detail, body=exc.body) from None
        finally:
            with contextlib.suppress(RnncastError):  # it may have expired already
                c.end_session(sid)


session_app = typer.Typer(help="A streaming session by its id: read it, or end it now.", no_args_is_help=True)


def show(session_id: str, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """A session's model, default horizon, values seen so far, the values it keeps, and when it expires."""
    with client(url, api_key) as c:
        session = c.session(session_id)
    if json_:
        emit_json(session)
        return
    out.print(f"{session.session_id}: model {session.model_id}, {session.observed} values seen (the last "
              f"{session.window_size} kept), horizon {session.horizon}, expires {session.expires_at} (ttl "
              f"{session.ttl_s} s)", soft_wrap=True, markup=False)


def end(session_id: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """End a session now (its id is then 404)."""
    with client(url, api_key) as c:
        c.end_session(session_id)
    out.print(f"{session_id}: ended", markup=False)


for _command in (show, end):
    session_app.command(name=_command.__name__)(handled(_command))
