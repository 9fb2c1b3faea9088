"""Other sites cannot make the user's browser change anything (issue 12, rows 1 and 2): a write with
a foreign Origin or a form's body type is refused, and so is any request naming a host the API
does not answer to (DNS rebinding)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.utils.factories import API, create_run, started_run, valid_spec

EVIL = "https://evil.example"


def test_a_cancel_from_another_site_is_refused_and_changes_nothing(client):
    queued = create_run(client)
    running = started_run(client)
    for run in (queued, running):
        response = client.post(
            f"{API}/runs/{run['id']}/cancel", headers={"Origin": EVIL, "content-type": "text/plain"}
        )
        assert response.status_code == 403, response.text
        assert "another site" in response.json()["detail"]
    study = client.post(f"{API}/studies", json={"name": "s", "base_spec": valid_spec(), "seeds": 1}).json()
    response = client.post(f"{API}/studies/{study['id']}/cancel", headers={"Origin": EVIL})
    assert response.status_code == 403
    assert client.get(f"{API}/runs/{queued['id']}").json()["status"] == "queued"
    assert client.get(f"{API}/runs/{running['id']}").json()["cancel_requested"] is False
    assert client.get(f"{API}/studies/{study['id']}").json()["status"] == "queued"


def test_a_json_write_from_another_site_is_refused(client):
    response = client.post(f"{API}/runs", json={"spec": valid_spec()}, headers={"Origin": EVIL})
    assert response.status_code == 403
    assert client.get(f"{API}/runs").json()["count"] == 0


def test_a_form_body_is_refused_even_without_an_origin(client):
    run = create_run(client)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = client.post(f"{API}/runs/{run['id']}/cancel", headers={"content-type": content_type})
        assert response.status_code == 403 and "send JSON" in response.json()["detail"], content_type
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == "queued"


def test_the_dashboard_scripts_and_the_cli_still_write(client):
    run = create_run(client)  # a script: JSON, no Origin
    own_page = {"Origin": "http://localhost", "content-type": "application/json"}  # the dashboard's fetch
    assert client.post(f"{API}/runs/{run['id']}/cancel", headers=own_page).status_code == 200
    other = create_run(client)
    assert client.post(f"{API}/runs/{other['id']}/cancel").status_code == 200  # the CLI: no body, no Origin


def test_an_origin_allowed_for_cors_may_write(migrated):
    settings = migrated.model_copy(update={"cors_origins": ["https://lab.example"]})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        run = create_run(client)
        allowed = client.post(f"{API}/runs/{run['id']}/cancel", headers={"Origin": "https://lab.example"})
        assert allowed.status_code == 200
        assert client.post(f"{API}/runs", json={"spec": valid_spec()}, headers={"Origin": EVIL}).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_dns_rebinding_is_refused(client, host):
    response = client.get(f"{API}/runs", headers={"Host": host})
    assert response.status_code == 403
    assert "TRAINBOARD_ALLOWED_HOSTS" in response.json()["detail"]
    assert "data" not in response.json()


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"])
def test_the_localhost_names_are_answered(client, host):
    assert client.get(f"{API}/runs", headers={"Host": host}).status_code == 200


def test_allowed_hosts_and_every_interface(migrated):
    named = migrated.model_copy(update={"allowed_hosts": ["trainboard.lab.example"]})
    with TestClient(create_app(named), base_url="http://localhost") as client:
        assert client.get(f"{API}/runs", headers={"Host": "trainboard.lab.example:443"}).status_code == 200
        assert client.get(f"{API}/runs", headers={"Host": "evil.example"}).status_code == 403
    # Listening on every interface a token is mandatory: any Host is answered (then the token is checked).
    exposed = migrated.model_copy(update={"host": "0.0.0.0", "api_token": "tb_secret_token_for_tests"})
    with TestClient(create_app(exposed), base_url="http://localhost") as client:
        response = client.get(f"{API}/runs", headers={"Host": "10.0.0.5:8000"})
        assert response.status_code == 401  # past the host check, stopped by the token


def test_pages_may_not_post_forms_elsewhere_nor_be_framed(client):
    for path in ("/", "/run.html", "/docs"):
        policy = client.get(path).headers["content-security-policy"]
        assert "form-action 'self'" in policy and "frame-ancestors 'none'" in policy, path
