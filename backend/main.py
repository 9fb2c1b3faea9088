"""The FastAPI application: `create_app(settings)` wires the database, the broker, the routers
and the static frontend. `uvicorn --factory backend.main:create_app` serves it."""

from __future__ import annotations

import asyncio
import math
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from backend.api.routes import artifacts, catalog, compare, events, health, metrics, runs
from backend.core.config import Settings, get_settings
from backend.core.db import get_engine, session_factory
from backend.core.migrate import check_migrated
from backend.core.security import check_exposure
from backend.services.events import RunEventHub
from worker.celery_app import create_celery

API_PREFIX = "/api/v1"
FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"


def _json_safe(value):
    """NaN and infinities, which a request body may hold (Python's json reads them), as the strings
    JSON writers use for them: JSON itself has no literal for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, made safe to render when the refused input is NaN or an infinity (else a 500)."""
    return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_exposure(settings)
    engine = get_engine(settings)
    check_migrated(engine)  # refuse to serve an unmigrated database, with the fix in the message

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.hub.bind_loop(asyncio.get_running_loop())
        yield

    app = FastAPI(
        title="trainboard",
        version="0.1.0",
        description="Launch, watch and compare PyTorch training runs.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.celery = create_celery(settings)
    app.state.hub = RunEventHub()
    app.add_exception_handler(RequestValidationError, _validation_error)

    for module in (runs, metrics, events, artifacts, compare, catalog, health):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(health.router)  # also at /health for load balancers and compose health checks
    if FRONTEND_DIR.is_dir():
        app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")
    return app
