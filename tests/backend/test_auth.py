"""The API token: write routes need it whenever one is set; a service listening beyond localhost
refuses to start without one, and then reads need it too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from trainboard.settings import Settings
from backend.core.security import TokenRequired
from backend.main import create_app
from tests.utils.factories import API, epoch_points, queued_messages, run_body

TOKEN = "s3cret"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
BAD_HEADERS = [
    pytest.param({}, id="none"),
    pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
    pytest.param({"Authorization": f"Bearer {TOKEN}x"}, id="longer"),
    pytest.param({"Authorization": f"Bearer {TOKEN[:-1]}"}, id="prefix"),
    pytest.param({"Authorization": "Bearer"}, id="empty"),
    pytest.param({"Authorization": f"Basic {TOKEN}"}, id="basic-scheme"),
    pytest.param({"Authorization": TOKEN}, id="no-scheme"),
    pytest.param({"X-Api-Token": TOKEN}, id="other-header"),
]


def _app_client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://localhost")


@pytest.fixture
def secured(migrated) -> Iterator[TestClient]:
    """The service on localhost with a token set."""
    with _app_client(migrated.model_copy(update={"api_token": TOKEN})) as client:
        yield client


@pytest.fixture
def exposed(migrated) -> Iterator[TestClient]:
    """The service listening on all interfaces, with its mandatory token."""
    with _app_client(migrated.model_copy(update={"api_token": TOKEN, "host": "0.0.0.0"})) as client:
        yield client


def _assert_401(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


def _write_routes(run_id: int) -> list[tuple[str, str, dict | None]]:
    return [
        ("POST", "/runs", run_body()),
        ("POST", f"/runs/{run_id}/start", {"worker_host": "w1"}),
        ("POST", f"/runs/{run_id}/heartbeat", {"attempt": 1, "epochs_completed": 1}),
        ("POST", f"/runs/{run_id}/metrics", {"attempt": 1, "points": epoch_points(1)}),
        ("POST", f"/runs/{run_id}/cancel", None),
        ("POST", f"/runs/{run_id}/finish", {"attempt": 1, "status": "cancelled"}),
        ("DELETE", f"/runs/{run_id}", None),
    ]


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_write_routes_refuse_a_missing_or_wrong_token(secured, migrated, headers):
    run_id = secured.post(f"{API}/runs", json=run_body(), headers=GOOD).json()["id"]
    before = secured.get(f"{API}/runs/{run_id}").json()
    for method, path, body in _write_routes(run_id):
        _assert_401(secured.request(method, f"{API}{path}", json=body, headers=headers))
    # nothing changed: no new run, nothing queued, the run untouched and without points
    assert secured.get(f"{API}/runs").json()["count"] == 1
    assert queued_messages(migrated) == 1
    assert secured.get(f"{API}/runs/{run_id}").json() == before
    assert secured.get(f"{API}/runs/{run_id}/metrics").json()["points"] == []


def test_write_routes_work_with_the_token(secured):
    def call(method: str, path: str, body: dict | None, expected: int) -> dict | None:
        response = secured.request(method, f"{API}{path}", json=body, headers=GOOD)
        assert response.status_code == expected, (method, path, response.text)
        return response.json() if response.content else None

    run_id = call("POST", "/runs", run_body(), 201)["id"]
    assert call("POST", f"/runs/{run_id}/start", {"worker_host": "w1"}, 200)["status"] == "running"
    assert call("POST", f"/runs/{run_id}/heartbeat", {"attempt": 1, "epochs_completed": 1}, 200)["status"] == "running"
    assert call("POST", f"/runs/{run_id}/metrics", {"attempt": 1, "points": epoch_points(1)}, 200)["inserted"] == 3
    assert call("POST", f"/runs/{run_id}/cancel", None, 200)["cancel_requested"] is True
    assert call("POST", f"/runs/{run_id}/finish", {"attempt": 1, "status": "cancelled"}, 200)["status"] == "cancelled"
    assert call("DELETE", f"/runs/{run_id}", None, 204) is None
    assert secured.get(f"{API}/runs/{run_id}").status_code == 404


def test_scheme_is_case_insensitive(secured):
    response = secured.post(f"{API}/runs", json=run_body(), headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 201


def test_auth_is_checked_before_the_run_is_looked_up(secured):
    """Without the token, an unknown run is a 401 too: nothing is told about which runs exist."""
    _assert_401(secured.post(f"{API}/runs/999/cancel"))
    _assert_401(secured.delete(f"{API}/runs/999"))
    _assert_401(secured.post(f"{API}/runs", json={"spec": {}}))  # ... and before the body is judged


def _read_paths(run_id: int) -> list[str]:
    return [
        "/runs",
        f"/runs/{run_id}",
        f"/runs/{run_id}/metrics",
        f"/runs/{run_id}/events",  # the run is finished, so the stream ends by itself
        "/catalog",
        "/health",
    ]


def _finished_run(client: TestClient) -> int:
    run_id = client.post(f"{API}/runs", json=run_body(), headers=GOOD).json()["id"]
    assert client.post(f"{API}/runs/{run_id}/cancel", headers=GOOD).status_code == 200
    return run_id


def test_reads_need_no_token_on_localhost(secured):
    run_id = _finished_run(secured)
    for path in _read_paths(run_id):
        response = secured.get(f"{API}{path}")
        assert response.status_code == 200, (path, response.text)
    assert secured.get("/health").status_code == 200


def test_writes_need_no_token_when_none_is_set(client):
    assert client.post(f"{API}/runs", json=run_body()).status_code == 201
    assert client.post(f"{API}/runs", json=run_body(), headers={"Authorization": "Bearer anything"}).status_code == 201


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "trainboard.example.org"])
@pytest.mark.parametrize("token", [None, ""])
def test_listening_beyond_localhost_without_a_token_is_refused(migrated, host, token):
    settings = migrated.model_copy(update={"host": host, "api_token": token})
    with pytest.raises(TokenRequired, match="TRAINBOARD_API_TOKEN"):
        create_app(settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_localhost_without_a_token_is_allowed(migrated, host):
    create_app(migrated.model_copy(update={"host": host, "api_token": None}))


@pytest.mark.parametrize("headers", BAD_HEADERS[:2])
def test_exposed_service_needs_the_token_for_reads_too(exposed, headers):
    run_id = _finished_run(exposed)
    for path in _read_paths(run_id):
        if path == "/health":
            continue
        _assert_401(exposed.get(f"{API}{path}", headers=headers))
        response = exposed.get(f"{API}{path}", headers=GOOD)
        assert response.status_code == 200, (path, response.text)
    for method, path, body in _write_routes(run_id):
        _assert_401(exposed.request(method, f"{API}{path}", json=body, headers=headers))


def test_exposed_service_health_stays_open_for_load_balancers(exposed):
    for path in ("/health", f"{API}/health"):
        response = exposed.get(path)
        assert response.status_code == 200
        assert response.json()["database"] == "ok"


def _made_then_revoked(settings: Settings) -> None:
    """`trainboard token create admin`, then `trainboard token revoke admin`, on the database."""
    from sqlalchemy.orm import Session

    from backend.core.db import get_engine
    from backend.crud import tokens as tokens_crud

    with Session(get_engine(settings)) as session:
        token, _secret = tokens_crud.create_token(session=session, name="admin")
        session.commit()
        tokens_crud.revoke_token(session=session, token=token)
        session.commit()


def test_revoking_the_last_token_of_an_exposed_server_locks_it(migrated):
    """Issue 12, row 3: an exposed API whose only token is revoked answers nothing but 401."""
    from sqlalchemy.orm import Session

    from backend.core.db import get_engine
    from backend.crud import tokens as tokens_crud

    exposed = migrated.model_copy(update={"host": "0.0.0.0"})
    with Session(get_engine(exposed)) as session:
        token, _secret = tokens_crud.create_token(session=session, name="admin")
        session.commit()
    with _app_client(exposed) as client:  # started while the token was valid
        with Session(get_engine(exposed)) as session:
            tokens_crud.revoke_token(session=session, token=session.merge(token))
            session.commit()
        _assert_401(client.get(f"{API}/runs"))
        _assert_401(client.post(f"{API}/runs", json=run_body()))
        _assert_401(client.delete(f"{API}/runs/1"))
        assert queued_messages(exposed) == 0


def test_revoking_the_last_token_on_localhost_locks_writes(migrated):
    _made_then_revoked(migrated)
    with _app_client(migrated) as client:
        _assert_401(client.post(f"{API}/runs", json=run_body()))
        assert client.get(f"{API}/runs").status_code == 200  # reads stay open on localhost
