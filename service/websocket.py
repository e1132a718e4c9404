"""uvicorn's sans-I/O WebSocket protocol, bounded for a peer that does not read (`rnncast api` serves sessions'
streams with it: service.launcher).

uvicorn's own already reads a connection's next message only once the app has taken the last, and makes the app's
writes wait while the socket's buffer is full. What it leaves open is a peer that sends but never reads: it
answers each ping it reads with a pong, whatever the buffer holds, and closes a connection gracefully, which waits,
with no end, for a buffer that the peer never drains. Here:

- while the buffer is full, nothing more is read (no ping to answer, no message): the peer's sending stops at its
  own socket;
- a connection whose buffer stays full for RNNCAST_SESSION_STREAM_IDLE_S is aborted (its buffer dropped), and so
  is one still open that long after it was closed.

So what a connection holds is its buffers, for a bounded time, however its peer behaves.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from rnncast.common.settings import get_settings


class _Closing:
    """A transport whose `close` also aborts it `grace_s` later, if its buffer has not drained by then."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, grace_s: float) -> None:
        self._transport, self._loop, self._grace_s = transport, loop, grace_s
        self._abort: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._transport.close()
        if self._abort is None:
            self._abort = self._loop.call_later(self._grace_s, self._transport.abort)  # closed by then: a no-op

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol, reading nothing while its peer reads nothing, and aborting a
    connection stalled or closing for RNNCAST_SESSION_STREAM_IDLE_S."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stall_s = get_settings().session_stream_idle_s
        self._stalled: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = _Closing(self.transport, self.loop, self.stall_s)  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._reading(False)
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.stall_s, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        if not self.read_paused:  # else the app has a message to take first; taking it resumes reading
            self._reading(True)

    async def receive(self) -> Any:
        message = await super().receive()
        if not self.writable.is_set():  # it resumed reading on taking a message: not while the buffer is full
            self._reading(False)
        return message

    def _reading(self, on: bool) -> None:
        if not self.transport.is_closing():
            (self.transport.resume_reading if on else self.transport.pause_reading)()
