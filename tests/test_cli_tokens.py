"""`trainboard token create | ls | revoke`: on the database directly; the secret is printed once
and works against the API, a revoked one no longer does."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from backend.cli import cli
from trainboard.settings import get_settings
from backend.main import create_app
from tests.utils.factories import API, run_body


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trainboard.db'}"


@pytest.fixture
def env(migrated, monkeypatch):
    for key in list(os.environ):
        if key.startswith("TRAINBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRAINBOARD_DATA_DIR", str(migrated.data_dir))
    monkeypatch.setenv("TRAINBOARD_DATABASE_URL", migrated.resolved_database_url)
    get_settings.cache_clear()
    yield migrated
    get_settings.cache_clear()


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=True)


def test_create_list_use_and_revoke_a_token(env):
    created = _run("token", "create", "laptop")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("tb_") and len(secret) >= 45
    assert "only this once" in created.stderr

    listed = _run("token", "ls")
    assert listed.exit_code == 0
    assert "laptop" in listed.stdout and secret[:10] in listed.stdout and secret not in listed.stdout
    assert "1 token" in listed.stdout

    with TestClient(create_app(env), base_url="http://localhost") as client:
        assert client.post(f"{API}/runs", json=run_body()).status_code == 401
        good = {"Authorization": f"Bearer {secret}"}
        assert client.post(f"{API}/runs", json=run_body(), headers=good).status_code == 201
        assert _run("token", "create", "other").exit_code == 0
        revoked = _run("token", "revoke", "laptop")
        assert revoked.exit_code == 0 and "is now revoked" in revoked.stdout
        assert client.post(f"{API}/runs", json=run_body(), headers=good).status_code == 401

    listed = _run("token", "ls").stdout.splitlines()
    laptop = next(line for line in listed if line.startswith("laptop"))
    assert laptop.split()[-1] != "-"  # revoked: a date


def test_token_errors_are_one_line(env):
    assert _run("token", "create", "ci").exit_code == 0
    again = _run("token", "create", "ci")
    assert again.exit_code == 1 and again.stderr.startswith("error: a token named 'ci' already exists")
    missing = _run("token", "revoke", "nope")
    assert missing.exit_code == 1 and "no token named 'nope'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_token_commands_refuse_an_unmigrated_database(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("TRAINBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRAINBOARD_DATA_DIR", str(tmp_path / "empty"))
    get_settings.cache_clear()
    result = _run("token", "ls")
    get_settings.cache_clear()
    assert result.exit_code == 1 and "trainboard migrate" in result.stderr
