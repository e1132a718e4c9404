"""uvicorn's sans-I/O WebSocket protocol, bounded for a peer that does not read (`rnncast api` serves sessions'
streams with it: service.launcher).

uvicorn's own already reads a connection's next message only once the app has taken the last, and makes the app's
writes wait while the socket's buffer is full. What it leaves open is a peer that sends but never reads: it
answers each ping it reads with a pong, whatever the buffer holds (and its close resumes reading whatever the
buffer holds), and closes a connection gracefully, which waits, with no end, for a buffer that the peer never
drains. Here, one rule held at the transport itself, whoever asks it to read:

- nothing is read while the buffer is over its high-water mark (no ping to answer, no message), from the upgrade
  on (a connection may come to the upgrade with its buffer full already): the peer's sending stops at its own
  socket;
- a connection whose buffer stays full for RNNCAST_SESSION_STREAM_IDLE_S is aborted (its buffer dropped), and one
  that is still open CLOSE_GRACE_S after it was closed is aborted too; uvicorn's wait for a peer's answer to a
  close frame is CLOSE_GRACE_S as well.

So a connection holds its buffers for a bounded time, however its peer behaves, and outlives its stream's place
(service.session_stream) by at most twice CLOSE_GRACE_S.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from rnncast.common.settings import get_settings

CLOSE_GRACE_S = 5.0


class _Held:
    """A transport that reads only while `full()` is false, and whose `close` aborts it CLOSE_GRACE_S later if it is
    not closed by then (`lost()` cancels that)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, full: Callable[[], bool]) -> None:
        self._transport, self._loop, self._full = transport, loop, full
        self.write, self.is_closing = transport.write, transport.is_closing  # each message's: no lookup through
        self._abort: asyncio.TimerHandle | None = None
        self._lost = False

    def resume_reading(self) -> None:
        if not self._full() and not self._transport.is_closing():
            self._transport.resume_reading()

    def pause_reading(self) -> None:
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def close(self) -> None:
        self._transport.close()
        if self._abort is None and not self._lost:
            self._abort = self._loop.call_later(CLOSE_GRACE_S, self._transport.abort)

    def lost(self) -> None:
        self._lost = True
        if self._abort is not None:
            self._abort.cancel()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol, reading nothing while its peer reads nothing, and aborting a
    connection stalled for RNNCAST_SESSION_STREAM_IDLE_S or left closing for CLOSE_GRACE_S."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stall_s = get_settings().session_stream_idle_s
        self.close_timeout = CLOSE_GRACE_S
        self._stalled: asyncio.TimerHandle | None = None
        self._held: _Held | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._held = _Held(self.transport, self.loop, lambda: not self.writable.is_set())
        self.transport = self._held  # type: ignore[assignment]
        size, (_, high) = self._held.get_write_buffer_size(), self._held.get_write_buffer_limits()
        if size > high:  # paused already under the HTTP protocol: the transport will not say so again
            self.pause_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        super().connection_lost(exc)  # it closes the transport: nothing is left to abort
        if self._held is not None:
            self._held.lost()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.transport.pause_reading()
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.stall_s, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        if not self.read_paused:  # else the app has a message to take first; taking it resumes reading
            self.transport.resume_reading()
