"""Assembles the FastAPI app: routers, middleware, error mapping, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
import redis
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

from rnncast.common import collector
from rnncast.common.artifacts import open_store
from rnncast.common.artifacts.bounded import BoundedStore
from rnncast.common.defaults import forecast_body_bytes
from rnncast.common.queue import make_celery
from rnncast.common.settings import Settings, get_settings
from rnncast.common.store.aio import AsyncJobStore
from rnncast.service import errors
from rnncast.service.deps import computing_paths
from rnncast.service.fastpath import ForecastFastPath
from rnncast.service.gate import Gate
from rnncast.service.ids import NO_MODEL_FIELDS, resolve_ids
from rnncast.service.lane import ForecastLane
from rnncast.service.limits import BindSettings
from rnncast.service.media import json_bodies
from rnncast.service.middleware import SECURITY_HEADERS, BodyLimit, Metrics, SecureHeaders, Slots
from rnncast.service.openapi import add_components, route_operation_id, security
from rnncast.service.query import single_values
from rnncast.service.route_paths import path_pattern, route_of
from rnncast.service.routes import (
    aliases,
    comparisons,
    datasets,
    events,
    health,
    jobs,
    models,
    searches,
    sessions,
    transfer,
    webhooks,
)
from rnncast.service.routes.events import StreamSlots
from rnncast.service.session_fastpath import SessionFastPath
from rnncast.service.session_stream import SessionStream

log = logging.getLogger("rnncast.api")

DESCRIPTION = """Train RNN, LSTM and GRU forecasters on a sine wave or your own series; serve forecasts and
backtests.

Training runs on Celery workers; Redis holds job state. With `RNNCAST_API_KEY`
set, every `/v1` request (and `/metrics`, unless RNNCAST_METRICS_PUBLIC) needs
`Authorization: Bearer <key>` or `X-API-Key`, checked before the body is read.
Without a key, only `Host: localhost`, `127.0.0.1` or `[::1]` is served (421 otherwise).
"""


UI_DIR = Path(__file__).with_name("ui")
SWAGGER_DIR = Path(fastapi_offline.__file__).with_name("static")


async def docs_page() -> FileResponse:
    """The API's interactive docs (Swagger UI), no file from another origin, no inline script."""
    return FileResponse(UI_DIR / "docs.html", media_type="text/html",
                        headers={k.decode(): v.decode() for k, v in SECURITY_HEADERS})


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API application (settings from the environment unless given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = AsyncJobStore.from_url(settings.redis_url)
        app.state.celery = make_celery(settings)
        app.state.lane = ForecastLane(app.state.store, settings.max_queued_forecasts, NO_MODEL_FIELDS)
        app.state.stream_slots = StreamSlots(settings.max_event_streams)
        try:  # the workers compare their store with it at start (worker.main)
            await app.state.store.record_api_artifacts(settings.artifacts_url)
        except redis.RedisError as exc:
            log.warning("could not record this API's artifact store in Redis: %s", exc)
        try:
            with collector.settled():  # start-up is done: the collector set for a server (common.collector)
                yield
        finally:
            await app.state.lane.close()
            await app.state.store.close()

    # /docs is served from this package (Swagger UI from fastapi-offline's files) under the dashboard's
    # policy; FastAPI's own pages load Swagger UI and ReDoc from a CDN with an inline script.
    app = FastAPI(title="rnncast", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, generate_unique_id_function=route_operation_id,
                  telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    app.state.artifacts = BoundedStore(open_store(settings, settings.api_store_timeout_s),
                                       settings.api_store_threads, settings.api_store_timeout_s)
    # The document describes this instance: the key's schemes where it has one, none where it has not.
    guarded = security(settings)
    # Every /v1 route: short ids resolved to whole ids (service.ids), JSON bodies sent as JSON (service.media), a
    # single-valued query parameter given once (service.query).
    v1 = APIRouter(prefix="/v1", dependencies=[*guarded, Depends(json_bodies), Depends(single_values),
                                                Depends(resolve_ids)])
    resources = (jobs.router, events.router, models.router, transfer.router, comparisons.router, searches.router,
                 datasets.router, webhooks.router, aliases.router, sessions.models_router, sessions.router)
    for router in resources:
        v1.include_router(router)
    app.include_router(v1)
    add_components(app, datasets.COMPONENTS, settings)
    # The dashboard: static files, under a policy that allows no inline script and no other origin.
    app.mount("/ui", SecureHeaders(StaticFiles(directory=UI_DIR, html=True)), name="ui")
    app.add_api_route("/", lambda: RedirectResponse("/ui/", status_code=307), include_in_schema=False)
    app.mount("/docs/static", SecureHeaders(StaticFiles(directory=SWAGGER_DIR)), name="docs-static")
    app.add_api_route("/docs", docs_page, include_in_schema=False)
    app.include_router(health.router)
    app.include_router(health.metrics_router, dependencies=[] if settings.metrics_public else guarded)
    errors.install(app)
    # Outermost first: Metrics, then Gate (no key, no body read; a WebSocket's upgrade too), then the upload slots,
    # then BodyLimit, then the fast paths (valid forecasts and observes answered without FastAPI's routing:
    # service.fastpath) and sessions' streams (service.session_stream), each reading its path and body model from
    # its route.
    forecast = route_of(models.router, models.forecast)
    observe = route_of(sessions.router, sessions.observe)
    app.add_middleware(SessionStream, api=app, route=observe)  # a session's WebSocket: its messages are observes
    app.add_middleware(SessionFastPath, api=app, route=observe, prefix=v1.prefix)
    app.add_middleware(ForecastFastPath, api=app, route=forecast, prefix=v1.prefix)
    # Uploads (a dataset, a model's import) may be large; a forecast's body needs no more than its largest context
    # takes. Each path as its route declares it (service.route_paths).
    uploads = [path_pattern(v1.prefix, route_of(datasets.router, datasets.create_dataset)),
               path_pattern(v1.prefix, route_of(transfer.router, transfer.import_model))]
    forecasts = [path_pattern(v1.prefix, forecast),
                 path_pattern(v1.prefix, route_of(comparisons.router, comparisons.ensemble_forecast))]
    forecast_bytes = min(settings.max_body_bytes, forecast_body_bytes(settings.max_context))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, paths=[
        *(("POST", path, settings.max_upload_bytes) for path in uploads),
        *(("POST", path, forecast_bytes) for path in forecasts),
    ], grace_s=settings.body_grace_s, min_rate=settings.min_body_rate)
    app.add_middleware(Slots, method="POST", pattern="|".join(uploads), slots=settings.max_concurrent_uploads,
                       setting="RNNCAST_MAX_CONCURRENT_UPLOADS")
    key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(Gate, api_key=key, metrics_public=settings.metrics_public,
                       trusted_origins=settings.trusted_origin_set, failures_allowed=settings.auth_failures_per_minute,
                       computing=computing_paths(resources, v1.prefix))
    app.add_middleware(Metrics)
    # Outermost: every validation within a request reads this app's limits (service.limits).
    app.add_middleware(BindSettings, settings=settings)
    return app
