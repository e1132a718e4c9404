"""Streaming sessions: a forecast that goes on as values arrive, its state in Redis (common.sessions)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from rnncast.common.sessions import OPEN, SESSION
from rnncast.common.values import is_id, iso_ms, now_ms
from rnncast.service.deps import LaneDep, SettingsDep, StoreDep
from rnncast.service.errors import ERRORS
from rnncast.service.forecast_ask import ask_lane as ask
from rnncast.service.forecast_ask import batch_header, session_gone
from rnncast.service.ids import model_or_404
from rnncast.service.openapi import operation_id
from rnncast.service.schemas.sessions import Session, SessionForecast, SessionObserve, SessionOpen
from rnncast.service.session_calls import observe_message

router = APIRouter(tags=["sessions"])
# Opening one is an operation on its model (`models_open_session`); the others on the session.
models_router = APIRouter(tags=["models"])
SESSION_LINKS = {name: {"operationId": operation_id("sessions", handler),
                        "parameters": {"session_id": "$response.body#/session_id"}}
                 for name, handler in (("Observe", "observe"), ("GetSession", "get_session"),
                                       ("DeleteSession", "delete_session"))}


@models_router.post("/models/{model_id}/sessions", status_code=201, response_model=SessionForecast,
                    responses={**ERRORS, 201: {"links": SESSION_LINKS}})
async def open_session(
    model_id: str,
    body: SessionOpen,
    lane: LaneDep,
    settings: SettingsDep,
    store: StoreDep,
) -> Response:
    """Open a streaming session with a first `window` and answer its forecast. Each `observe` then appends
    values and answers the forecast from all of them: equal to the bit to `POST .../forecast` with every value
    seen so far as the `context`. The session keeps only the last values one forecast reads, in Redis, so any
    predict worker serves its next call; it expires `ttl_s` seconds after its last observe. A model that reads
    covariates is refused (422): a session's values carry no timestamps."""
    model = await model_or_404(store, model_id)
    session = {"op": OPEN, "id": uuid.uuid4().hex, "ttl_s": body.ttl_s}
    message = {
        "model_id": model["id"],
        "sha256": model["checkpoint"]["sha256"],
        "horizon": body.horizon,
        "window": body.window,
        SESSION: session,
    }
    answer = await ask(lane, settings, message)
    # The worker's body goes out as it came: no second parse and encode of the predictions.
    return Response(answer.body, status_code=201 if answer.status == 200 else answer.status,
                    media_type="application/json", headers=batch_header(answer))


@router.post("/sessions/{session_id}/observe", response_model=SessionForecast, responses=ERRORS)
async def observe(session_id: str, body: SessionObserve, lane: LaneDep, settings: SettingsDep) -> Response:
    """Append `values` (in order) to the session and answer its forecast from there. Observes of one session
    are applied one at a time: one that raced another and lost is a 409 and saves nothing (send it again); one
    with `after` is applied once however often it is sent. Bad values are a 422 and change nothing; an expired or
    unknown session is a 404. (A well-formed one is answered by service.session_fastpath, in front of FastAPI's
    routing, as this route answers it.)"""
    if not is_id(session_id):
        raise session_gone(session_id)
    answer = await ask(lane, settings, observe_message(session_id, body))
    return Response(answer.body, status_code=answer.status, media_type="application/json",
                    headers=batch_header(answer))


@router.get("/sessions/{session_id}", response_model=Session, responses=ERRORS)
async def get_session(session_id: str, store: StoreDep) -> JSONResponse:
    """A session's model, default horizon, values seen so far and when it expires."""
    found = await store.get_session(session_id) if is_id(session_id) else None
    if found is None:
        raise session_gone(session_id)
    state, ttl_ms = found
    return JSONResponse(
        {
            "session_id": session_id,
            "model_id": state.model_id,
            "horizon": state.horizon,
            "ttl_s": state.ttl_s,
            "observed": state.observed,
            "window_size": len(state.window),
            "expires_at": iso_ms(now_ms() + max(ttl_ms, 0)),
        }
    )


@router.delete("/sessions/{session_id}", status_code=204, responses=ERRORS)
async def delete_session(session_id: str, store: StoreDep) -> Response:
    """End a session now; its id is then 404."""
    if not is_id(session_id) or not await store.delete_session(session_id):
        raise session_gone(session_id)
    return Response(status_code=204)
