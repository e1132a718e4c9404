"""The floor under any Python HTTP service on this machine: a bare ASGI app (no framework, no validation, no
Redis) under the same uvicorn that serves `rnncast api`, reading each request's body and answering every POST
with a fixed session answer. What a request costs it is what uvicorn and the socket cost; bench/sessions.py
prints the API's CPU per observe beside it, measured in the same run.

A WebSocket is accepted and each message answered with the same answer, as a session's stream answers it
(bench/transport_floor.py: what a message costs against a request; bench/sessions.py: the streams' floor).
Usage: python bench/asgi_floor.py PORT [WS_IMPL]  (uvicorn's --ws: websockets, websockets-sansio, wsproto)
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

ANSWER = (b'{"session_id":"' + b"0" * 32 + b'","observed":81,"expires_at":"2026-01-01T00:00:00.000Z",'
          b'"forecast":{"model_id":"' + b"0" * 32 + b'","horizon":1,"x":[0.0],"y":[0.5]}}')
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


TEXT = '{"status":200,' + ANSWER.decode()[1:]  # a session stream's answer (service.session_stream)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()  # the connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": TEXT})
        return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


if __name__ == "__main__":
    ws = sys.argv[2] if len(sys.argv) > 2 else "auto"
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, ws=ws)  # type: ignore[arg-type]
