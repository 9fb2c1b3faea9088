"""A run submitted over HTTP is queued, trained by a real Celery worker process and streamed
back epoch by epoch: once on Redis and Postgres, once on the embedded default (SQLite + the
SQLite broker, no server at all)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.services import running_stack
from tests.utils.live_server import free_port
from trainboard.sse import stream_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EPOCHS = 4


def submit_and_follow(stack, name: str) -> tuple[list, dict]:
    spec = {"model": "mlp", "dataset": "synthetic_mnist", "learning_rate": 0.5, "epochs": EPOCHS, "batch_size": 64}
    response = httpx.post(f"{stack.api_url}/api/v1/runs", json={"name": name, "spec": spec}, timeout=30)
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    url = f"{stack.api_url}/api/v1/runs/{run_id}/events"
    with (
        httpx.Client(timeout=httpx.Timeout(60, connect=5)) as client,
        stream_events(client, url, deadline_s=180) as reader,
    ):
        events = [(e.event, e.json(), e.id) for e in reader]
    run = httpx.get(f"{stack.api_url}/api/v1/runs/{run_id}", timeout=10).json()
    return events, run


def check_streamed_run(events: list, run: dict) -> None:
    assert run["status"] == "completed", run["error"]
    assert run["epochs_completed"] == EPOCHS
    assert run["attempt"] == 1 and run["worker_host"] and run["device_name"]
    assert run["environment"]["torch_version"]

    statuses = [data["status"] for kind, data, _ in events if kind == "state"]
    assert statuses[0] in ("queued", "running") and statuses[-1] == "completed"
    assert "running" in statuses
    assert events[-1][0] == "end" and events[-1][1] == {"status": "completed"}

    streamed = [(p["name"], p["step"]) for kind, data, _ in events if kind == "metrics" for p in data["points"]]
    assert len(streamed) == len(set(streamed)), "a point arrived twice"
    losses = [(step, value) for kind, data, _ in events if kind == "metrics"
              for p in data["points"] if p["name"] == "train_loss" for step, value in [(p["step"], p["value"])]]
    assert [step for step, _ in losses] == list(range(1, EPOCHS + 1)), "every epoch once, in order"
    assert losses[-1][1] < losses[0][1], "training lowered the loss"
    for name in ("train_loss", "test_loss", "test_accuracy", "lr", "epoch_seconds", "samples_per_second"):
        assert {step for n, step in streamed if n == name} == set(range(1, EPOCHS + 1)), name


def test_run_on_redis_and_postgres(tmp_path, redis_url, postgres_url):
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(tmp_path),
        "TRAINBOARD_DATABASE_URL": postgres_url,
        "TRAINBOARD_BROKER_URL": redis_url,
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
        "TRAINBOARD_HEARTBEAT_SECONDS": "1",
    }
    with running_stack(env, tmp_path) as stack:
        events, run = submit_and_follow(stack, "on redis")
        check_streamed_run(events, run)


def test_run_on_embedded_default(tmp_path):
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(tmp_path),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
        "TRAINBOARD_HEARTBEAT_SECONDS": "1",
    }
    with running_stack(env, tmp_path) as stack:
        events, run = submit_and_follow(stack, "embedded")
        check_streamed_run(events, run)
        assert (tmp_path / "trainboard.db").exists() and (tmp_path / "broker.db").exists()
