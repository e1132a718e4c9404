"""Dependencies injected into routes; tests override them instead of patching globals."""

from __future__ import annotations

import hmac
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status

from common.settings import Settings, get_settings
from common.store.aio import AsyncJobStore


def get_store(request: Request) -> AsyncJobStore:
    store: AsyncJobStore = request.app.state.store
    return store


def get_celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[AsyncJobStore, Depends(get_store)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """With RNNCAST_API_KEY set, demand it as a Bearer token or an X-API-Key header."""
    if settings.api_key is None:
        return
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    expected = settings.api_key.get_secret_value()
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
