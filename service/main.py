"""Assembles the FastAPI app: routers, middleware, error mapping, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from common.queue import make_celery
from common.settings import Settings, get_settings
from common.store.aio import AsyncJobStore
from service import errors
from service.deps import require_api_key
from service.lane import ForecastLane
from service.middleware import BodyLimit, Metrics
from service.routes import comparisons, health, jobs, models

DESCRIPTION = """Train RNN, LSTM and GRU forecasters on a sine wave and serve their forecasts.

Training runs on Celery workers; Redis holds job state. With `RNNCAST_API_KEY`
set, every `/v1` request needs `Authorization: Bearer <key>` or `X-API-Key`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API application (settings from the environment unless given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = AsyncJobStore.from_url(settings.redis_url)
        app.state.celery = make_celery(settings)
        app.state.lane = ForecastLane(app.state.store)
        try:
            yield
        finally:
            await app.state.lane.close()
            await app.state.store.close()

    app = FastAPI(title="rnncast", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
    v1.include_router(jobs.router)
    v1.include_router(models.router)
    v1.include_router(comparisons.router)
    app.include_router(v1)
    app.include_router(health.router)
    errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Metrics)
    return app
