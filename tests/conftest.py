"""Shared fixtures: settings on a temporary data folder, a migrated database (SQLite or the
Postgres on 127.0.0.1:5432), and an API client over the real app with the embedded broker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.utils.catalog import publish_builtin_catalog
from trainboard.settings import Settings
from backend.core.db import get_engine
from backend.core.migrate import upgrade
from backend.main import create_app

POSTGRES_ADMIN_URL = os.environ.get("TRAINBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TRAINBOARD_TEST_REDIS", "redis://127.0.0.1:6379")


def service_missing(what: str, error: Exception) -> None:
    """Skip when a service is down on a developer's machine; fail in CI, where it must run."""
    message = f"{what} is not reachable: {error}"
    if os.environ.get("TRAINBOARD_REQUIRE_SERVICES"):
        pytest.fail(message + " (TRAINBOARD_REQUIRE_SERVICES is set, so this is a failure)")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty Postgres database for one test, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"trainboard_test_{uuid.uuid4().hex[:12]}"
    conninfo = f"host={admin.host} port={admin.port or 5432} user={admin.username} dbname={admin.database}"
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL on 127.0.0.1:5432", exc)
    yield admin.set(database=name).render_as_string(hide_password=False)
    from backend.core.db import _engine_for

    _engine_for.cache_clear()  # close pooled connections before dropping
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """A Redis database number of its own, emptied first."""
    import redis

    url = f"{REDIS_URL}/{9 + int(uuid.uuid4().int % 6)}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.flushdb()
    except redis.RedisError as exc:
        service_missing("Redis on 127.0.0.1:6379", exc)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trainboard.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        broker_url=f"embedded+sqlite:///{tmp_path / 'broker.db'}",
        api_token=None,
        # The recovery sweep runs once at start-up; tests of recovery call it themselves.
        recovery_seconds=3600,
    )


@pytest.fixture
def migrated(settings) -> Settings:
    """A migrated store where a worker with the built-in zoo has published its catalog."""
    upgrade(get_engine(settings))
    publish_builtin_catalog(settings)
    return settings


@pytest.fixture
def client(migrated) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://localhost") as test_client:
        yield test_client
