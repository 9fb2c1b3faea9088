"""CORS is off unless origins are configured, and then only for those; request bodies are
capped (413), whether they declare their length or stream it in chunks."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from trainboard.settings import Settings
from backend.main import create_app
from tests.utils.factories import API, epoch_points, started_run

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def test_cors_is_off_by_default(client):
    response = client.options(f"{API}/runs", headers={"Origin": "http://evil.example", **PREFLIGHT})
    assert "access-control-allow-origin" not in response.headers
    response = client.get(f"{API}/runs", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200
    assert not any(key.startswith("access-control-") for key in response.headers)


def test_cors_allows_exactly_the_configured_origins(migrated):
    settings = migrated.model_copy(update={"cors_origins": ["https://dash.example"]})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        allowed = client.options(f"{API}/runs", headers={"Origin": "https://dash.example", **PREFLIGHT})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
        allowed_headers = allowed.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed_headers and "content-type" in allowed_headers
        assert "access-control-allow-credentials" not in allowed.headers  # no cookies
        read = client.get(f"{API}/runs", headers={"Origin": "https://dash.example"})
        assert read.headers["access-control-allow-origin"] == "https://dash.example"

        refused = client.options(f"{API}/runs", headers={"Origin": "http://evil.example", **PREFLIGHT})
        assert refused.headers.get("access-control-allow-origin") != "http://evil.example"
        read = client.get(f"{API}/runs", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in read.headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", []), ("https://a.example, https://b.example/", ["https://a.example", "https://b.example"]),
     ('["https://a.example"]', ["https://a.example"])],
)  # fmt: skip
def test_cors_origins_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("TRAINBOARD_CORS_ORIGINS", value)
    assert Settings().cors_origins == expected


# --- body size -----------------------------------------------------------------------------------

LIMIT = 64 * 1024


@pytest.fixture
def capped(migrated):
    app = create_app(migrated.model_copy(update={"max_body_bytes": LIMIT}))
    with TestClient(app, base_url="http://localhost") as client:
        yield client


def _metrics_body(points: int) -> bytes:
    batch = [{"name": "train_loss", "step": i, "value": 0.5} for i in range(points)]
    return json.dumps({"attempt": 1, "points": batch}).encode()


def test_an_oversized_body_is_refused_with_413(capped):
    run_id = started_run(capped)["id"]
    body = _metrics_body(2000)
    assert len(body) > LIMIT
    response = capped.post(f"{API}/runs/{run_id}/metrics", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert capped.get(f"{API}/runs/{run_id}/metrics").json()["points"] == []


def test_an_oversized_chunked_body_is_refused_with_413(capped):
    run_id = started_run(capped)["id"]
    body = _metrics_body(2000)

    def chunks():
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = capped.post(
        f"{API}/runs/{run_id}/metrics", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert "larger than" in response.json()["detail"]
    assert capped.get(f"{API}/runs/{run_id}/metrics").json()["points"] == []


def test_normal_bodies_pass_chunked_or_not(capped):
    run_id = started_run(capped)["id"]
    small = json.dumps({"attempt": 1, "points": epoch_points(1)}).encode()
    headers = {"Content-Type": "application/json"}
    assert capped.post(f"{API}/runs/{run_id}/metrics", content=small, headers=headers).status_code == 200
    chunked = capped.post(f"{API}/runs/{run_id}/metrics", content=iter([small[:10], small[10:]]), headers=headers)
    assert chunked.status_code == 200, chunked.text


def test_artifact_uploads_have_their_own_larger_cap(capped):
    run_id = started_run(capped)["id"]
    image = b"\x89PNG" + b"\0" * (2 * LIMIT)  # over the global cap, well under the artifacts' 50 MiB
    response = capped.put(f"{API}/runs/{run_id}/artifacts/big.png", params={"attempt": 1}, content=image)
    assert response.status_code == 201, response.text
    assert capped.get(f"{API}/runs/{run_id}/artifacts/big.png").content == image


def test_the_default_cap_is_16_mib(monkeypatch):
    monkeypatch.delenv("TRAINBOARD_MAX_BODY_BYTES", raising=False)
    assert Settings().max_body_bytes == 16 * 2**20
