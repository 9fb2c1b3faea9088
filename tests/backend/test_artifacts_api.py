"""Artifacts are read and written only inside `<artifacts>/runs/<id>/`: names that climb out
(`..`, encoded or not), absolute paths, backslashes and NULs are refused, sent raw over HTTP to a
real server (a client library would tidy the `..` away before sending). And the normal round trip."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlparse

import pytest

from backend.main import create_app
from tests.utils.factories import API, create_run, started_run
from tests.utils.live_server import serve

SECRET = b"do not serve me"
LEASE = {"attempt": 1}  # the uploads below are the first claim's
HOSTILE_NAMES = [
    "../x",
    "..%2Fx",
    "..%2fx",
    "%2e%2e/x",
    "%2E%2E%2Fx",
    ".%2e/x",
    "a/../../x",
    "a/..%2F..%2Fx",
    "../../../../secret.txt",
    "..%2F..%2F..%2F..%2Fsecret.txt",
    "%252e%252e%252fsecret.txt",  # double-encoded
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "..\\x",
    "..%5Cx",
    "a%5C..%5C..%5Cx",
    "C:%5Cwindows%5Cwin.ini",
    "x%00.png",
    "x.png%00",
    "",
    ".",
    "..",
]


@pytest.fixture
def live(migrated, client) -> str:
    with serve(create_app(migrated)) as url:
        yield url


def _raw(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One request with its path sent exactly as given."""
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body or b"")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def test_hostile_names_are_refused_for_reads_and_writes(migrated, client, live):
    run_id = started_run(client)["id"]
    data_dir = Path(migrated.data_dir)
    (data_dir / "secret.txt").write_bytes(SECRET)
    artifacts = migrated.resolved_artifacts_dir
    run_folder = artifacts / "runs" / str(run_id)
    before = _files(data_dir)
    for name in HOSTILE_NAMES:
        path = f"{API}/runs/{run_id}/artifacts/{name}"
        status, body = _raw(live, "PUT", path + "?attempt=1", b"payload")
        assert 400 <= status < 500, (name, status, body)
        status, body = _raw(live, "GET", path)
        assert 400 <= status < 500 or (name == "" and status == 200), (name, status, body)
        assert SECRET not in body and b"root:" not in body, name
    created = {
        p for p in _files(data_dir) - before if "broker" not in p.name and not p.name.startswith("trainboard.db")
    }
    assert all(run_folder in p.parents for p in created), created
    assert not created


def test_upload_list_and_download_round_trip(migrated, client):
    run_id = started_run(client)["id"]
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    response = client.put(f"{API}/runs/{run_id}/artifacts/predictions/epoch_1.png", params=LEASE, content=image)
    assert response.status_code == 201, response.text
    assert response.json() == {"name": "predictions/epoch_1.png", "size": len(image)}
    assert client.put(f"{API}/runs/{run_id}/artifacts/report.json", params=LEASE, content=b"{}").status_code == 201
    # checkpoints live in the run's folder too, but stay with the worker: never listed
    checkpoint = migrated.resolved_artifacts_dir / "runs" / str(run_id) / "checkpoints" / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")

    listed = client.get(f"{API}/runs/{run_id}/artifacts").json()
    assert [item["name"] for item in listed] == ["predictions/epoch_1.png", "report.json"]
    assert listed[0] == {"name": "predictions/epoch_1.png", "size": len(image), "media_type": "image/png"}
    download = client.get(f"{API}/runs/{run_id}/artifacts/predictions/epoch_1.png")
    assert download.status_code == 200 and download.content == image
    assert download.headers["content-type"] == "image/png"
    assert client.get(f"{API}/runs/{run_id}/artifacts/missing.png").status_code == 404
    assert client.put(f"{API}/runs/999/artifacts/x.png", params=LEASE, content=b"x").status_code == 404


def test_an_upload_names_its_lease_and_only_the_running_attempt_may_upload(migrated, client):
    run_id = started_run(client)["id"]
    path = f"{API}/runs/{run_id}/artifacts/overlay.png"
    missing = client.put(path, content=b"x")
    assert missing.status_code == 422
    assert ["query", "attempt"] in [error["loc"] for error in missing.json()["detail"]]
    assert client.put(path, params={"attempt": 2}, content=b"x").status_code == 409  # not its attempt
    assert client.put(path, params=LEASE, content=b"first").status_code == 201
    client.post(f"{API}/runs/{run_id}/finish", json={"attempt": 1, "status": "completed"})
    late = client.put(path, params=LEASE, content=b"late")
    assert late.status_code == 409 and "completed" in late.json()["detail"]
    assert client.get(path).content == b"first"
    queued = create_run(client)["id"]
    assert client.put(f"{API}/runs/{queued}/artifacts/x.png", params=LEASE, content=b"x").status_code == 409
    assert client.get(f"{API}/runs/{queued}/artifacts").json() == []
