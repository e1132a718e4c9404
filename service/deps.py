"""Dependencies injected into routes; tests override them instead of patching globals.

All are `async def`: FastAPI runs a plain `def` dependency on its thread pool,
a thread hop per dependency per request, which under forecast load costs
more CPU than the dependencies themselves.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status

from common.settings import Settings
from common.store.aio import AsyncJobStore
from service.lane import ForecastLane


async def app_settings(request: Request) -> Settings:
    """The settings the app was created with (`create_app`)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> AsyncJobStore:
    store: AsyncJobStore = request.app.state.store
    return store


async def get_celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


async def get_lane(request: Request) -> ForecastLane:
    lane: ForecastLane = request.app.state.lane
    return lane


SettingsDep = Annotated[Settings, Depends(app_settings)]
LaneDep = Annotated[ForecastLane, Depends(get_lane)]
StoreDep = Annotated[AsyncJobStore, Depends(get_store)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


async def require_api_key(request: Request, settings: SettingsDep) -> None:
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
