"""Runs reported by the user's own script (the Python client) as a user and the client see them:
created running and never queued, one run per client key, resumed with a new lease, reported on
and cancelled like a worker's run, and bad input refused naming the field. Every test runs on
SQLite and on Postgres."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from tests.utils.factories import (
    API,
    create_run,
    epoch_points,
    finish_run,
    post_points,
    queued_messages,
    run_count,
    start_run,
    strict_json,
    track_run,
)

CONFIG = {"lr": 0.001, "model": {"layers": [64, 32], "dropout": 0.1}, "optimizer": "adamw", "tags": ["baseline"]}


def get(client, run_id: int) -> dict:
    return client.get(f"{API}/runs/{run_id}").json()


def test_a_script_run_is_running_at_once_and_never_queued(client, settings):
    run = track_run(
        client, name="my script", group="scripts", config=CONFIG, host="laptop", environment={"torch_version": "2.4"}
    )
    assert run["source"] == "script" and run["created"] is True
    assert (run["status"], run["attempt"], run["queue"]) == ("running", 1, None)
    assert (run["name"], run["group"], run["worker_host"]) == ("my script", "scripts", "laptop")
    assert run["config"] == CONFIG and run["spec"] == {}
    assert run["environment"] == {"torch_version": "2.4"}
    assert run["started_at"] is not None and run["heartbeat_at"] is not None
    assert run["heartbeat_seconds"] == settings.heartbeat_seconds and run["last_step"] is None
    assert queued_messages(settings) == 0  # no worker is ever asked to train it
    assert get(client, run["id"])["config"] == CONFIG

    unnamed = track_run(client)
    assert (unnamed["name"], unnamed["config"], unnamed["group"]) == ("script run", {}, None)


def test_a_script_reports_like_a_worker_and_the_list_tells_the_kinds_apart(client):
    script = track_run(client, config={"lr": 0.1})
    worker = create_run(client)
    for epoch in (1, 2):
        post_points(client, script["id"], epoch_points(epoch))
    beat = client.post(f"{API}/runs/{script['id']}/heartbeat", json={"attempt": 1, "epochs_completed": 2})
    assert beat.json() == {"status": "running", "cancel_requested": False}
    artifact = client.put(f"{API}/runs/{script['id']}/artifacts/plot.png", params={"attempt": 1}, content=b"png")
    assert artifact.status_code == 201
    done = finish_run(client, script["id"], epochs_completed=2)
    assert done["status"] == "completed" and done["finished_at"] is not None

    shown = get(client, script["id"])
    assert shown["summary"]["val_accuracy"] == {
        "final": 2.2, "final_step": 2, "best": 2.2, "best_step": 2, "selected": 2.2
    }  # fmt: skip
    assert (shown["selection_metric"], shown["selected_epoch"]) == ("val_accuracy", 2)
    assert shown["epochs_completed"] == 2
    assert client.get(f"{API}/runs/{script['id']}/artifacts/plot.png").content == b"png"
    listed = {kind: client.get(f"{API}/runs", params={"source": kind}).json() for kind in ("script", "worker")}
    assert [run["id"] for run in listed["script"]["data"]] == [script["id"]]
    assert [run["id"] for run in listed["worker"]["data"]] == [worker["id"]]
    assert listed["worker"]["data"][0]["source"] == "worker" and listed["worker"]["data"][0]["config"] is None
    assert client.get(f"{API}/runs", params={"source": "notebook"}).status_code == 422


def test_a_known_client_key_returns_its_run_unchanged(client):
    first = track_run(client, name="first", config={"lr": 0.1}, client_key="run-key_0001")
    post_points(client, first["id"], epoch_points(1) + epoch_points(2))
    finish_run(client, first["id"])

    again = client.post(
        f"{API}/runs/track", json={"name": "second", "config": {"lr": 0.5}, "client_key": "run-key_0001"}
    )
    assert again.status_code == 200
    body = again.json()
    assert (body["id"], body["created"], body["name"], body["config"]) == (first["id"], False, "first", {"lr": 0.1})
    assert (body["status"], body["attempt"], body["last_step"]) == ("completed", 1, 2)
    assert run_count(client) == 1
    assert track_run(client, client_key="another-key")["id"] != first["id"]


@pytest.mark.timeout(120)
def test_the_same_client_key_sent_at_the_same_moment_makes_one_run(client):
    """A client retrying a request whose reply it did not get, while the first is still in flight."""
    senders = 6
    barrier = Barrier(senders)

    def send(_: int) -> tuple[int, int]:
        barrier.wait(timeout=30)
        response = client.post(f"{API}/runs/track", json={"client_key": "raced-key", "config": {"lr": 0.1}})
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(senders) as pool:
        results = list(pool.map(send, range(senders)))
    assert sorted(code for code, _ in results) == [200] * (senders - 1) + [201], results
    assert len({run_id for _, run_id in results}) == 1
    assert run_count(client) == 1


@pytest.mark.timeout(120)
def test_racing_resumes_get_one_attempt_each(client):
    """Two restarts of a script never share a lease."""
    run = track_run(client)
    senders = 6
    barrier = Barrier(senders)

    def resume(_: int) -> int:
        barrier.wait(timeout=30)
        response = client.post(f"{API}/runs/{run['id']}/resume", json={})
        assert response.status_code == 200, response.text
        return response.json()["attempt"]

    with ThreadPoolExecutor(senders) as pool:
        attempts = sorted(pool.map(resume, range(senders)))
    assert attempts == list(range(2, senders + 2))
    assert get(client, run["id"])["attempt"] == senders + 1


def test_resume_takes_a_new_lease_and_says_where_to_carry_on(client):
    run = track_run(client, host="node-1", client_key="resumed-run")
    post_points(client, run["id"], epoch_points(1) + epoch_points(3))
    client.post(f"{API}/runs/{run['id']}/cancel")
    finish_run(client, run["id"], status="failed", error="CUDA out of memory")

    response = client.post(f"{API}/runs/{run['id']}/resume", json={"host": "node-2"})
    assert response.status_code == 200, response.text
    resumed = response.json()
    assert (resumed["status"], resumed["attempt"], resumed["worker_host"]) == ("running", 2, "node-2")
    assert (resumed["error"], resumed["finished_at"], resumed["cancel_requested"]) == (None, None, False)
    assert resumed["last_step"] == 3 and resumed["created"] is False
    # The script before the restart lost its lease; points already stored are not stored again.
    stale = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": epoch_points(4)})
    assert stale.status_code == 409 and "lost its lease" in stale.json()["detail"]
    assert post_points(client, run["id"], epoch_points(3) + epoch_points(4), attempt=2)["inserted"] == 3
    assert finish_run(client, run["id"], attempt=2)["status"] == "completed"
    assert client.post(f"{API}/runs/{run['id']}/resume", json={}).json()["attempt"] == 3


def test_worker_and_script_runs_keep_to_their_own_protocol(client):
    worker = create_run(client)
    refused = client.post(f"{API}/runs/{worker['id']}/resume", json={})
    assert refused.status_code == 409
    message = f"run {worker['id']} is trained by a worker; only script runs are resumed by their script"
    assert refused.json()["detail"] == message
    assert get(client, worker["id"])["status"] == "queued"
    assert client.post(f"{API}/runs/999/resume", json={}).status_code == 404

    script = track_run(client)
    start = client.post(f"{API}/runs/{script['id']}/start", json={"worker_host": "w1"})
    assert start.status_code == 409 and "reported by its own script" in start.json()["detail"]
    release = client.post(f"{API}/runs/{script['id']}/release", json={"attempt": 1})
    assert release.status_code == 409 and "reported by its own script" in release.json()["detail"]
    after = get(client, script["id"])
    assert (after["status"], after["attempt"], after["worker_host"]) == ("running", 1, None)
    start_run(client, worker["id"])  # the worker run is still a worker's


def test_cancel_reaches_the_script_through_its_heartbeat(client):
    run = track_run(client)
    assert client.post(f"{API}/runs/{run['id']}/cancel").json()["cancel_requested"] is True
    beat = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1})
    assert beat.json() == {"status": "running", "cancel_requested": True}
    assert finish_run(client, run["id"], status="cancelled")["status"] == "cancelled"
    assert client.delete(f"{API}/runs/{run['id']}").status_code == 204


def _nested(depth: int) -> dict:
    """An object `depth` levels deep: {"a": {"a": ... {"a": 1}}}."""
    value: dict = {"a": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _nested_list(depth: int) -> list:
    value: list = [1]
    for _ in range(depth - 1):
        value = [value]
    return value


BAD_BODIES = [
    pytest.param({"config": {"text": "x" * (64 * 1024)}}, ("body", "config"), id="config-over-64KiB"),
    pytest.param({"config": _nested(21)}, ("body", "config"), id="config-21-deep"),
    pytest.param({"config": {"layers": _nested_list(20)}}, ("body", "config"), id="config-lists-21-deep"),
    pytest.param('{"config": {"lr": NaN}}', ("body", "config"), id="config-nan"),
    pytest.param({"config": [1, 2]}, ("body", "config"), id="config-not-an-object"),
    pytest.param({"client_key": "short"}, ("body", "client_key"), id="key-too-short"),
    pytest.param({"client_key": "k" * 65}, ("body", "client_key"), id="key-too-long"),
    pytest.param({"client_key": "has spaces in it"}, ("body", "client_key"), id="key-bad-characters"),
    pytest.param({"host": "h" * 256}, ("body", "host"), id="host-too-long"),
    pytest.param({"environment": {"pip": "x" * (16 * 1024)}}, ("body", "environment"), id="environment-over-16KiB"),
    pytest.param({"name": "two\nlines"}, ("body", "name"), id="name-control-character"),
    pytest.param({"spec": {"model": "mlp"}}, ("body", "spec"), id="spec-not-a-field"),
]


@pytest.mark.parametrize(("body", "loc"), BAD_BODIES)
def test_bad_input_is_refused_naming_the_field(client, settings, body, loc):
    if isinstance(body, str):
        response = client.post(f"{API}/runs/track", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(f"{API}/runs/track", json=body)
    assert response.status_code == 422, response.text
    detail = strict_json(response.content)["detail"]
    assert loc in [tuple(error["loc"]) for error in detail]
    assert all(error["msg"] for error in detail)
    assert run_count(client) == 0


def test_configs_at_the_limits_are_accepted(client):
    deep = track_run(client, config=_nested(20))
    assert deep["config"] == _nested(20)
    big = {"text": "é" * 100, "values": list(range(10_000))}
    assert len(json.dumps(big, separators=(",", ":"), ensure_ascii=False).encode()) < 64 * 1024
    assert track_run(client, config=big, client_key="k" * 64)["config"] == big
