"""The FastAPI application: `create_app(settings)` wires the database, the broker, the routers
and the static frontend. `uvicorn --factory backend.main:create_app` serves it."""

from __future__ import annotations

import asyncio
import json
import math
import re
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api.deps import ReadAuth
from backend.api.errors import errors
from backend.api.routes import (
    artifacts,
    catalog,
    checkpoints,
    compare,
    events,
    health,
    metrics,
    presets,
    runs,
    stats,
    studies,
    ui,
    workers,
)
from trainboard.settings import Settings, get_settings
from backend.core.db import get_engine, session_factory
from backend.core.limits import BodySizeLimit
from backend.core.migrate import check_migrated
from backend.core.security import check_exposure
from backend.services.events import RunEventHub
from backend.services.recovery import run_periodically
from trainboard.broker import create_celery
from trainboard.limits import MAX_ARTIFACT_BYTES
from backend.core.cross_site import CrossSiteGuard

API_PREFIX = "/api/v1"
FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"

# Pages run only the scripts the app serves: no inline script, so text smuggled into a page
# (a run name, an option value) cannot run. Plotly needs inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# The /docs page: Swagger UI served from the installed `fastapi-offline` package (/vendor/...),
# started with FastAPI's inline script; it shows no run data as HTML.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeaders:
    """Adds the Content-Security-Policy (and nosniff) to every HTTP response. Plain ASGI, so that
    streamed responses (the SSE stream) pass through untouched."""

    def __init__(self, app, docs_path: str = "/docs"):
        self.app = app
        self.docs_paths = (docs_path, f"{docs_path}/oauth2-redirect")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = DOCS_CONTENT_SECURITY_POLICY if scope["path"] in self.docs_paths else CONTENT_SECURITY_POLICY

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:  # a route's stricter one stays (artifacts)
                    headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_ECHO_CHARS = 200  # of a refused input, in a 422: enough to recognise it, never a whole body


def _text(value: str) -> str:
    """Text that encodes as UTF-8: a lone surrogate (JSON's "\\ud800") written as its escape."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _echo(value):
    """The refused input as a 422 shows it: numbers and booleans as they are, NaN and infinities as
    the strings JSON writers use, anything else as at most MAX_ECHO_CHARS of its JSON text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        try:
            value = json.dumps(value, default=str)
        except (RecursionError, ValueError):  # nested deeper than the encoder goes
            value = f"<a {type(value).__name__} nested too deep to show>"
    value = _text(value)
    return value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "…"


def _error(error: dict) -> dict:
    safe = {
        "type": error.get("type"),
        "loc": [_text(part) if isinstance(part, str) else part for part in error.get("loc", ())],
        "msg": _text(str(error.get("msg", ""))),
    }
    if "input" in error:
        safe["input"] = _echo(error["input"])
    if error.get("ctx"):
        safe["ctx"] = {key: _echo(item) for key, item in error["ctx"].items()}
    return safe


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, made safe to render whatever was refused (NaN, a lone surrogate, a body nested
    hundreds deep) and short: the input is echoed up to MAX_ECHO_CHARS characters."""
    return JSONResponse(status_code=422, content={"detail": [_error(error) for error in exc.errors()]})


def _documented_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for the path: those of the most specific path
    template matching it (the most literal text: /runs/track over /runs/{run_id})."""
    matching = []
    for template, operations in app.openapi()["paths"].items():
        parts = re.split(r"(\{[^}]+\})", template)
        if re.fullmatch("".join(".+" if part.startswith("{") else re.escape(part) for part in parts), path):
            literal = sum(len(part) for part in parts if not part.startswith("{"))
            matching.append((literal, sorted(method.upper() for method in operations)))
    return max(matching)[1] if matching else []


async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """A 405 whose Allow header names the methods the API documents for the path. Without it the
    frontend's mount at "/", which takes any path, answers a wrong method on an API path with its
    own Allow: GET, HEAD."""
    methods = _documented_methods(request.app, request.scope["path"])
    headers = {**(exc.headers or {}), **({"Allow": ", ".join(methods)} if methods else {})}
    return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = get_engine(settings)
    check_migrated(engine)  # refuse to serve an unmigrated database, with the fix in the message
    check_exposure(settings, engine)  # after: the tokens made with the CLI live in the database

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.hub.bind_loop(asyncio.get_running_loop())
        recovery = asyncio.create_task(
            run_periodically(app.state.session_factory, app.state.celery, settings, app.state.hub)
        )
        yield
        recovery.cancel()

    app = FastAPI(
        title="trainboard",
        version="0.1.0",
        description="Launch, watch and compare PyTorch training runs.",
        lifespan=lifespan,
        # Served below: the schema behind ReadAuth like every API route, the docs page public.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.celery = create_celery(settings)
    app.state.hub = RunEventHub()
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_middleware(SecurityHeaders)
    # Outside the routes, so an oversized body is refused before anything reads it.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        limits=[
            ("PUT", rf"^{API_PREFIX}/runs/[^/]+/artifacts/", MAX_ARTIFACT_BYTES),
            ("PUT", rf"^{API_PREFIX}/runs/[^/]+/checkpoints/", settings.max_checkpoint_bytes),
        ],
    )
    app.add_middleware(CrossSiteGuard, settings=settings)  # Host and Origin checks, before any route
    if settings.cors_origins:  # off by default: no CORS header at all
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            allow_credentials=False,  # the token travels in a header, never in a cookie
        )

    @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False, dependencies=[ReadAuth])
    def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json", title="trainboard API",
            swagger_js_url="/vendor/swagger-ui-bundle.js", swagger_css_url="/vendor/swagger-ui.css",
            swagger_favicon_url="/vendor/swagger-favicon.png",
        )  # fmt: skip

    routers = (
        runs, metrics, events, artifacts, checkpoints, compare, ui, catalog, presets, workers, health, studies, stats,
    )  # fmt: skip
    for module in routers:
        # What the middleware and the auth dependency can answer on any route (health takes no token).
        refusals = errors(400, 403, 413) if module is health else errors(400, 401, 403, 413)
        app.include_router(module.router, prefix=API_PREFIX, responses=refusals)
    # Also at /health for load balancers and compose health checks.
    app.include_router(health.router, responses=errors(400, 403, 413))
    app.include_router(ui.assets)  # /vendor/plotly-basic.min.js, for the frontend
    if FRONTEND_DIR.is_dir():
        app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")
    return app
