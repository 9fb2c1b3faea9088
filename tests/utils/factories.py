"""Small builders for API tests: valid specs, runs created through the API, and a look into
the embedded broker's queue."""

from __future__ import annotations

import copy
import json
from typing import Any

import kombu
from fastapi.testclient import TestClient

from trainboard.settings import Settings
from trainboard.queues import DEFAULT_QUEUE as QUEUE

API = "/api/v1"

MINIMAL_SPEC: dict[str, Any] = {
    "model": "mlp",
    "dataset": "synthetic_mnist",
    "learning_rate": 0.1,
    "epochs": 2,
    "batch_size": 32,
}

# The default mlp (hidden 128, 64) on 28x28 grey images with 10 classes.
DEFAULT_MLP_PARAMS = 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10  # 109386
DEFAULT_MLP_MACS = 784 * 128 + 128 * 64 + 64 * 10  # 109184


def valid_spec(**overrides: Any) -> dict[str, Any]:
    """A minimal valid spec dict; keyword arguments replace (or add) top-level fields."""
    spec = copy.deepcopy(MINIMAL_SPEC)
    spec.update(overrides)
    return spec


def run_body(*, spec: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A POST /runs body: `spec` (default: `valid_spec()`) plus name, group..."""
    return {"spec": spec if spec is not None else valid_spec(), **fields}


def create_run(client: TestClient, *, spec: dict[str, Any] | None = None, headers=None, **fields: Any) -> dict:
    """Submit a run through the API and return its JSON; fails the test unless it is a 201."""
    response = client.post(f"{API}/runs", json=run_body(spec=spec, **fields), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def start_run(client: TestClient, run_id: int, worker_host: str = "w1", headers=None) -> dict:
    """Claim the run as a worker does; the reply's `attempt` is the lease every later report carries."""
    response = client.post(f"{API}/runs/{run_id}/start", json={"worker_host": worker_host}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def report_size(client: TestClient, run_id: int, param_count: int, macs: int) -> dict:
    """Start the run and report its size, as the worker that trains it does (measured on the meta device)."""
    run = start_run(client, run_id)
    body = {"attempt": run["attempt"], "param_count": param_count, "macs": macs}
    response = client.post(f"{API}/runs/{run_id}/heartbeat", json=body)
    assert response.status_code == 200, response.text
    return client.get(f"{API}/runs/{run_id}").json()


def started_run(client: TestClient, *, spec: dict[str, Any] | None = None, **fields: Any) -> dict:
    """A run submitted and claimed (attempt 1): ready for points, heartbeats and its finish."""
    return start_run(client, create_run(client, spec=spec, **fields)["id"])


def track_run(client: TestClient, *, headers=None, **fields: Any) -> dict:
    """Create a script run as the Python client's `init` does (POST /runs/track); fails the test
    unless it is a 201. Its lease is attempt 1: report points with `post_points` as for a worker run."""
    response = client.post(f"{API}/runs/track", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def finish_run(
    client: TestClient, run_id: int, status: str = "completed", headers=None, *, attempt: int = 1, **fields: Any
) -> dict:
    body = {"attempt": attempt, "status": status, **fields}
    response = client.post(f"{API}/runs/{run_id}/finish", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def epoch_points(epoch: int, names: tuple[str, ...] = ("train_loss", "val_loss", "val_accuracy")) -> list[dict]:
    """The points an engine would report at the end of `epoch` (distinct values per name and epoch)."""
    return [{"name": name, "step": epoch, "value": round(epoch + i / 10, 3)} for i, name in enumerate(names)]


def post_points(client: TestClient, run_id: int, points: list[dict], headers=None, *, attempt: int = 1) -> dict:
    """Report points of a running run, as the holder of its lease `attempt` (the first claim's by default)."""
    response = client.post(f"{API}/runs/{run_id}/metrics", json={"attempt": attempt, "points": points}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def run_count(client: TestClient, headers=None) -> int:
    """How many runs GET /runs says are stored."""
    response = client.get(f"{API}/runs", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["count"]


def queued_messages(settings: Settings, queue: str = QUEUE) -> int:
    """How many messages wait in the embedded broker's queue (kombu's SQLAlchemy transport on
    `broker.db` in the data folder). A queue never declared holds nothing."""
    with kombu.Connection(settings.resolved_broker_url) as connection:
        channel = connection.default_channel
        return channel.queue_declare(queue=queue, passive=True).message_count


def _refuse_constant(literal: str):
    raise AssertionError(f"the response holds the non-JSON literal {literal}")


def strict_json(text: str | bytes):
    """Parse a response body as standard JSON: NaN, Infinity and -Infinity literals fail the test."""
    return json.loads(text, parse_constant=_refuse_constant)
