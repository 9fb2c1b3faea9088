"""Checkpoints travel through the API: written and read only by the execution holding the run's
lease, checked against the SHA-256 their uploader announces, replaced atomically (a refused or
broken upload leaves the previous one intact), kept where the artifact routes cannot reach them,
and deleted with their run."""

from __future__ import annotations

import hashlib
import http.client
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.utils.factories import API, create_run, finish_run, start_run, started_run
from tests.utils.live_server import serve

WEIGHTS = b"\x80\x02weights of epoch 3" + bytes(range(256)) * 64
OTHER = b"\x80\x02another run's weights"


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def put(client, run_id: int, content: bytes, *, attempt: int = 1, name: str = "last.pt", sha: str | None = None):
    return client.put(
        f"{API}/runs/{run_id}/checkpoints/{name}",
        params={"attempt": attempt},
        content=content,
        headers={"X-Checksum-Sha256": sha if sha is not None else _sha(content)},
    )


def get(client, run_id: int, *, attempt: int = 1, name: str = "last.pt"):
    return client.get(f"{API}/runs/{run_id}/checkpoints/{name}", params={"attempt": attempt})


def stored(settings, run_id: int, name: str = "last.pt") -> Path:
    return settings.resolved_artifacts_dir / "checkpoints" / str(run_id) / name


def leftovers(settings, run_id: int) -> list[Path]:
    return [p for p in stored(settings, run_id).parent.glob(".*") if p.is_file()]


def test_the_lease_holder_uploads_and_reads_back_its_checkpoint(migrated, client):
    run_id = started_run(client)["id"]
    assert get(client, run_id).status_code == 404  # none yet: the worker starts from epoch 1
    response = put(client, run_id, WEIGHTS)
    assert response.status_code == 201, response.text
    assert response.json() == {"name": "last.pt", "size": len(WEIGHTS), "sha256": _sha(WEIGHTS)}
    assert put(client, run_id, b"best", name="best.pt").status_code == 201

    download = get(client, run_id)
    assert download.status_code == 200 and download.content == WEIGHTS
    assert download.headers["x-checksum-sha256"] == _sha(WEIGHTS)
    assert download.headers["content-type"] == "application/octet-stream"
    assert stored(migrated, run_id).read_bytes() == WEIGHTS and not leftovers(migrated, run_id)
    assert not (migrated.resolved_artifacts_dir / "runs" / str(run_id) / "checkpoints").exists()
    assert get(client, 999).status_code == 404


def test_only_the_current_attempt_of_a_running_run_writes_or_reads(client):
    run_id = started_run(client)["id"]
    assert put(client, run_id, WEIGHTS).status_code == 201
    assert put(client, run_id, OTHER, attempt=2).status_code == 409
    assert get(client, run_id, attempt=2).status_code == 409
    # handed back and claimed on another machine: the new lease reads what the old one wrote
    assert client.post(f"{API}/runs/{run_id}/release", json={"attempt": 1, "reason": "moving"}).status_code == 200
    assert put(client, run_id, OTHER).status_code == 409  # queued: nobody writes
    assert get(client, run_id).status_code == 409
    assert start_run(client, run_id, worker_host="machine-b")["attempt"] == 2
    assert get(client, run_id, attempt=1).status_code == 409  # the old lease is over
    assert get(client, run_id, attempt=2).content == WEIGHTS
    finish_run(client, run_id, attempt=2)
    late = put(client, run_id, OTHER, attempt=2)
    assert late.status_code == 409 and "completed" in late.json()["detail"]
    assert get(client, run_id, attempt=2).status_code == 409
    queued = create_run(client)["id"]  # issue 12, row 5: a queued run takes no checkpoint
    assert put(client, queued, OTHER).status_code == 409


def test_a_bad_checksum_or_name_is_refused_and_the_previous_checkpoint_kept(migrated, client):
    run_id = started_run(client)["id"]
    assert put(client, run_id, WEIGHTS).status_code == 201
    mismatch = put(client, run_id, WEIGHTS[:-1], sha=_sha(WEIGHTS))  # a byte lost on the way
    assert mismatch.status_code == 422 and "SHA-256" in mismatch.json()["detail"][0]["msg"]
    for sha in ("", "abc", "z" * 64):
        assert put(client, run_id, OTHER, sha=sha).status_code == 422, sha
    missing = client.put(f"{API}/runs/{run_id}/checkpoints/last.pt", params={"attempt": 1}, content=OTHER)
    assert missing.status_code == 422
    for name in ("last.png", "last", ".last.pt", "a b.pt", "x" * 70 + ".pt"):
        assert put(client, run_id, OTHER, name=name).status_code == 422, name
    assert get(client, run_id).content == WEIGHTS and not leftovers(migrated, run_id)


def test_an_oversized_checkpoint_is_refused_and_the_previous_one_kept(migrated):
    app = create_app(migrated.model_copy(update={"max_checkpoint_bytes": 4096}))
    with TestClient(app, base_url="http://localhost") as client:
        run_id = started_run(client)["id"]
        assert put(client, run_id, b"small").status_code == 201
        assert put(client, run_id, b"x" * 5000).status_code == 413

        def chunks():  # no Content-Length: counted as it streams in
            yield b"x" * 3000
            yield b"x" * 3000

        streamed = client.put(f"{API}/runs/{run_id}/checkpoints/last.pt", params={"attempt": 1}, content=chunks(),
                              headers={"X-Checksum-Sha256": _sha(b"x" * 6000)})  # fmt: skip
        assert streamed.status_code == 413
        assert get(client, run_id).content == b"small" and not leftovers(migrated, run_id)


def test_an_upload_cut_off_midway_leaves_the_previous_checkpoint_intact(migrated, client):
    run_id = started_run(client)["id"]
    assert put(client, run_id, WEIGHTS).status_code == 201
    with serve(create_app(migrated)) as url:
        parsed = urlparse(url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        connection.putrequest("PUT", f"{API}/runs/{run_id}/checkpoints/last.pt?attempt=1")
        connection.putheader("Content-Length", str(len(OTHER) * 1000))
        connection.putheader("X-Checksum-Sha256", _sha(OTHER * 1000))
        connection.endheaders(OTHER * 10)  # the worker's machine dies here
        time.sleep(0.5)
        connection.close()
        deadline = time.monotonic() + 10
        while leftovers(migrated, run_id) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert not leftovers(migrated, run_id)
    assert get(client, run_id).content == WEIGHTS


def test_the_artifact_routes_cannot_read_list_or_write_checkpoints(migrated, client):
    run_id = started_run(client)["id"]
    assert put(client, run_id, WEIGHTS).status_code == 201
    # the copy a worker on the API's machine keeps of its run's checkpoints
    local = migrated.resolved_artifacts_dir / "runs" / str(run_id) / "checkpoints" / "last.pt"
    local.parent.mkdir(parents=True)
    local.write_bytes(WEIGHTS)
    artifacts = f"{API}/runs/{run_id}/artifacts"
    for name in ("checkpoints/last.pt", "checkpoints/best.pt", "checkpoints"):
        assert client.put(f"{artifacts}/{name}", params={"attempt": 1}, content=OTHER).status_code == 422, name
        assert client.get(f"{artifacts}/{name}").status_code == 422, name
    for name in ("../../checkpoints/1/last.pt", "..%2F..%2Fcheckpoints%2F1%2Flast.pt"):
        assert client.get(f"{artifacts}/{name}").status_code in (404, 422), name
    assert client.get(artifacts).json() == []
    assert local.read_bytes() == WEIGHTS and get(client, run_id).content == WEIGHTS


def test_issue_12_row_5_no_upload_replaces_the_checkpoint_a_queued_run_resumes_from(migrated, client):
    run_id = started_run(client)["id"]
    assert put(client, run_id, WEIGHTS).status_code == 201
    assert client.post(f"{API}/runs/{run_id}/release", json={"attempt": 1, "reason": "lost"}).status_code == 200
    for attempt in (1, 2):  # queued: neither the old lease nor a guessed next one may write
        refused = client.put(f"{API}/runs/{run_id}/artifacts/checkpoints/last.pt", params={"attempt": attempt},
                             content=OTHER)  # fmt: skip
        assert refused.status_code == 422
        assert put(client, run_id, OTHER, attempt=attempt).status_code == 409
    assert start_run(client, run_id)["attempt"] == 2
    assert get(client, run_id, attempt=2).content == WEIGHTS


def test_deleting_a_run_deletes_its_checkpoints(migrated, client):
    run_id = started_run(client)["id"]
    assert put(client, run_id, WEIGHTS).status_code == 201
    finish_run(client, run_id)
    assert client.delete(f"{API}/runs/{run_id}").status_code == 204
    assert not stored(migrated, run_id).parent.exists()


@pytest.mark.parametrize("attempt", [0, -1, "x"])
def test_an_upload_names_a_valid_lease(client, attempt):
    run_id = started_run(client)["id"]
    assert put(client, run_id, WEIGHTS, attempt=attempt).status_code == 422
