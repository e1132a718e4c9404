"""Dependencies injected into routes; tests override them instead of patching globals.

All are `async def`: FastAPI runs a plain `def` dependency on its thread pool,
a thread hop per dependency per request, which under forecast load costs
more CPU than the dependencies themselves.
"""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, Request

from rnncast.common.artifacts.bounded import BoundedStore
from rnncast.common.settings import Settings
from rnncast.common.store.aio import AsyncJobStore
from rnncast.service.lane import ForecastLane


async def app_settings(request: Request) -> Settings:
    """The settings the app was created with (`create_app`)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> AsyncJobStore:
    store: AsyncJobStore = request.app.state.store
    return store


async def get_artifacts(request: Request) -> BoundedStore:
    """Checkpoints, model files and datasets (a local folder or S3), called through their own threads."""
    artifacts: BoundedStore = request.app.state.artifacts
    return artifacts


async def get_celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


async def get_lane(request: Request) -> ForecastLane:
    lane: ForecastLane = request.app.state.lane
    return lane


SettingsDep = Annotated[Settings, Depends(app_settings)]
LaneDep = Annotated[ForecastLane, Depends(get_lane)]
StoreDep = Annotated[AsyncJobStore, Depends(get_store)]
ArtifactsDep = Annotated[BoundedStore, Depends(get_artifacts)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
# The request header that makes a POST safe to retry (jobs, comparisons).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
