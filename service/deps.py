"""Dependencies injected into routes; tests override them instead of patching globals.

All are `async def`: FastAPI runs a plain `def` dependency on its thread pool,
a thread hop per dependency per request, which under forecast load costs
more CPU than the dependencies themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from celery import Celery
from fastapi import APIRouter, Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from rnncast.common.artifacts.bounded import BoundedStore
from rnncast.common.settings import Settings
from rnncast.common.store.aio import AsyncJobStore
from rnncast.service.lane import ForecastLane
from rnncast.service.rpc import Worker


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


async def get_worker(request: Request) -> Worker:
    """The predict workers, to ask for a figure, a backtest or an ensemble (service.rpc.Worker)."""
    return Worker(request.app.state.store, request.app.state.settings)


# Dependencies that make a worker compute: a route that takes one is a computing route (`computing_paths`).
COMPUTING: tuple[Callable[..., Any], ...] = (get_worker, get_lane)


def _computes(dependant: Dependant) -> bool:
    return any(dep.call in COMPUTING or _computes(dep) for dep in dependant.dependencies)


def computing_paths(routers: Sequence[APIRouter], prefix: str) -> tuple[re.Pattern[str], ...]:
    """The path patterns of the GET routes that make a worker compute (those taking a COMPUTING dependency), of
    `routers` included under `prefix`. Only reads count: the gate refuses every other method from another site
    anyway, and a computing POST must not close a read of the same path (POST /v1/models imports; GET lists)."""
    return tuple(compile_path(prefix + route.path)[0] for router in routers for route in router.routes
                 if isinstance(route, APIRoute) and "GET" in (route.methods or ()) and _computes(route.dependant))


SettingsDep = Annotated[Settings, Depends(app_settings)]
LaneDep = Annotated[ForecastLane, Depends(get_lane)]
WorkerDep = Annotated[Worker, Depends(get_worker)]
StoreDep = Annotated[AsyncJobStore, Depends(get_store)]
ArtifactsDep = Annotated[BoundedStore, Depends(get_artifacts)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
# The request header that makes a POST safe to retry (jobs, comparisons).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
