"""Dependencies injected into routes; tests override them instead of patching globals.

All are `async def`: FastAPI runs a plain `def` dependency on its thread pool,
a thread hop per dependency per request, which under forecast load costs
more CPU than the dependencies themselves.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from celery import Celery
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from rnncast.common import defaults
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


@dataclass(frozen=True)
class Page:
    """One page of a list route: `limit` records from `offset`, newest first unless the route says otherwise."""

    limit: int
    offset: int


def _paging(default: int, most: int) -> Callable[..., Any]:
    """A dependency reading `limit` (1..most, `default`) and `offset` (0..MAX_LIST_OFFSET) from the query. Its
    signature is built from values, not written, so each kind of list states its bounds once (common.defaults)."""

    async def page(limit: int, offset: int) -> Page:
        return Page(limit, offset)

    kind = inspect.Parameter.KEYWORD_ONLY
    page.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("limit", kind, default=default, annotation=Annotated[int, Query(ge=1, le=most)]),
        inspect.Parameter("offset", kind, default=0,
                          annotation=Annotated[int, Query(ge=0, le=defaults.MAX_LIST_OFFSET)]),
    ], return_annotation=Page)
    return page


SettingsDep = Annotated[Settings, Depends(app_settings)]
LaneDep = Annotated[ForecastLane, Depends(get_lane)]
WorkerDep = Annotated[Worker, Depends(get_worker)]
StoreDep = Annotated[AsyncJobStore, Depends(get_store)]
ArtifactsDep = Annotated[BoundedStore, Depends(get_artifacts)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
# A list route's page: records (PageDep), or computed views such as comparisons and searches (ViewPageDep).
PageDep = Annotated[Page, Depends(_paging(defaults.LIST_PAGE, defaults.MAX_LIST_PAGE))]
ViewPageDep = Annotated[Page, Depends(_paging(defaults.VIEW_PAGE, defaults.MAX_VIEW_PAGE))]
# The request header that makes a POST safe to retry (jobs, comparisons).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
