"""Every route of the app against the token rule, enumerated from the app itself, so that a new
route without the auth dependency fails here:

- a token configured, listening on localhost: every write (non-GET) route answers 401 without
  it, and reads stay open;
- listening beyond localhost: every route answers 401 without the token, except health and the
  static pages (PUBLIC_PATHS, an explicit list: adding to it is a decision, not an accident).

Also the tokens made with `trainboard token create` (the `api_tokens` table): a live one works,
a revoked one is a 401, and one alone is enough to listen beyond localhost."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import fastapi.routing
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.routing import Mount

from backend.core.db import get_engine
from backend.core.security import TokenRequired
from backend.crud import tokens as tokens_crud
from backend.api.routes.ui import VENDOR_FILES
from backend.main import API_PREFIX, FRONTEND_DIR, create_app
from tests.utils.factories import API, run_body

TOKEN = "s3cret"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
STATIC_SUFFIXES = (".html", ".js", ".css", ".svg")
# Open to anyone even when the service listens beyond localhost: load balancers' health checks,
# and pages and scripts that hold no data (the data comes from the API, behind the token).
PUBLIC_PATHS = {
    "/health",
    f"{API_PREFIX}/health",
    "/",
    "/docs",  # Swagger UI's page; the schema it loads needs the token
    *(f"/vendor/{name}" for name in VENDOR_FILES),  # plotly.js, Swagger UI: from installed packages
    *(f"/{path.name}" for path in FRONTEND_DIR.iterdir() if path.suffix in STATIC_SUFFIXES),
}
# Reads that need the write token even on localhost: a run's checkpoints are the worker's (issue 12,
# row 5), read only by the execution holding the lease.
WORKER_READS = {f"{API_PREFIX}/runs/1/checkpoints/x.png"}
PATH_PARAMS = {"run_id": "1", "study_id": "1", "name": "x.png"}


def _iter_routes(app):
    # FastAPI 0.16x keeps included routers as nested entries; iter_route_contexts flattens them.
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate else list(app.routes)


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_PARAMS.get(m.group(1), "1"), path)


def endpoints(app) -> list[tuple[str, str]]:
    """(method, concrete path) for every route and every static file of the app."""
    found: set[tuple[str, str]] = set()
    for route in _iter_routes(app):
        if isinstance(getattr(route, "original_route", route), Mount) or isinstance(route, Mount):
            for path in FRONTEND_DIR.iterdir():
                if path.suffix in STATIC_SUFFIXES:
                    found.add(("GET", f"/{path.name}"))
            found.add(("GET", "/"))
            continue
        paths = [f"/vendor/{name}" for name in VENDOR_FILES] if route.path == "/vendor/{name}" else [route.path]
        for method in route.methods or ():
            if method != "HEAD":
                found.update((method, _concrete(path)) for path in paths)
    return sorted(found)


def test_every_route_is_enumerated(client):
    found = endpoints(client.app)
    assert ("POST", f"{API}/runs") in found and ("PUT", f"{API}/runs/1/artifacts/x.png") in found
    assert ("GET", "/index.html") in found and ("GET", f"{API}/openapi.json") in found
    assert {("GET", path) for path in WORKER_READS} <= set(found)
    assert len([e for e in found if e[1].startswith(API)]) >= 25, found


def _client(settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://localhost")


@pytest.fixture
def secured(migrated) -> Iterator[TestClient]:
    with _client(migrated.model_copy(update={"api_token": TOKEN})) as client:
        yield client


@pytest.fixture
def exposed(migrated) -> Iterator[TestClient]:
    with _client(migrated.model_copy(update={"api_token": TOKEN, "host": "0.0.0.0"})) as client:
        yield client


def test_on_localhost_every_write_route_needs_the_token_and_reads_stay_open(secured):
    for method, path in endpoints(secured.app):
        response = secured.request(method, path)
        if method == "GET" and path not in WORKER_READS:
            assert response.status_code != 401, (method, path, response.text)
        else:
            assert response.status_code == 401, (method, path, response.status_code, response.text)


def test_beyond_localhost_every_route_but_health_and_pages_needs_the_token(exposed):
    for method, path in endpoints(exposed.app):
        response = exposed.request(method, path)
        if method == "GET" and path in PUBLIC_PATHS:
            assert response.status_code == 200, (method, path, response.status_code)
        else:
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            # ... and the token opens it (what it answers then depends on the route and body)
            assert exposed.request(method, path, headers=GOOD).status_code != 401, (method, path)


# --- tokens in the database ----------------------------------------------------------------------


def _make_token(settings, name: str) -> str:
    with Session(get_engine(settings)) as session:
        _, secret = tokens_crud.create_token(session=session, name=name)
        session.commit()
    return secret


def _revoke(settings, name: str) -> None:
    with Session(get_engine(settings)) as session:
        tokens_crud.revoke_token(session=session, token=tokens_crud.get_token_by_name(session=session, name=name))
        session.commit()


def test_a_database_token_works_and_a_revoked_one_is_refused(migrated):
    secret = _make_token(migrated, "laptop")
    other = _make_token(migrated, "desktop")
    assert secret.startswith("tb_") and len(secret) > 40 and secret != other

    def post(headers: dict) -> int:
        return client.post(f"{API}/runs", json=run_body(), headers=headers).status_code

    with _client(migrated) as client:  # no TRAINBOARD_API_TOKEN: the table's tokens are the ones
        good = {"Authorization": f"Bearer {secret}"}
        assert post({}) == 401 and post({"Authorization": "Bearer tb_wrong"}) == 401
        assert post(good) == 201
        _revoke(migrated, "laptop")
        assert post(good) == 401  # at once, on the next request
        assert post({"Authorization": f"Bearer {other}"}) == 201
        _revoke(migrated, "desktop")
        # no live token left: writes stay locked (revoking never opens them; issue 12, row 3)
        assert post({}) == 401 and post(good) == 401


def test_the_environment_token_and_database_tokens_both_work(migrated):
    secret = _make_token(migrated, "ci")
    with _client(migrated.model_copy(update={"api_token": TOKEN})) as client:
        for headers in (GOOD, {"Authorization": f"Bearer {secret}"}):
            assert client.post(f"{API}/runs", json=run_body(), headers=headers).status_code == 201
        assert client.post(f"{API}/runs", json=run_body()).status_code == 401


def test_a_database_token_is_enough_to_listen_beyond_localhost(migrated):
    exposed = migrated.model_copy(update={"host": "0.0.0.0", "api_token": None})
    with pytest.raises(TokenRequired, match="trainboard token create"):
        create_app(exposed)
    secret = _make_token(migrated, "server")
    with _client(exposed) as client:
        assert client.get(f"{API}/runs").status_code == 401
        assert client.get(f"{API}/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        assert client.get("/health").status_code == 200
    _revoke(migrated, "server")
    with pytest.raises(TokenRequired):
        create_app(exposed)


def test_last_use_is_recorded_at_most_once_a_minute(migrated):
    secret = _make_token(migrated, "worker")
    with Session(get_engine(migrated)) as session:
        first = tokens_crud.find_active(session=session, secret=secret)
        session.commit()
        used = first.last_used_at
        assert used is not None
        assert (
            tokens_crud.find_active(session=session, secret=secret, now=used + timedelta(seconds=30)).last_used_at
            == used
        )
        later = used + timedelta(minutes=2)
        assert tokens_crud.find_active(session=session, secret=secret, now=later).last_used_at == later
        assert tokens_crud.find_active(session=session, secret="tb_" + "x" * 43) is None
