"""Databases for fixtures wider than one test (the per-test ones are in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty Postgres database (the URL of it), dropped afterwards. Raises
    psycopg.OperationalError when the server is not reachable."""
    import psycopg

    from backend.core.db import _engine_for

    admin = make_url(admin_url)
    name = f"trainboard_test_{uuid.uuid4().hex[:12]}"
    conninfo = f"host={admin.host} port={admin.port or 5432} user={admin.username} dbname={admin.database}"
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        _engine_for.cache_clear()  # close pooled connections before dropping
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
