"""The runs API as a user and a worker see it: submit, list, read, cancel, delete, and the
life-cycle reports (start, heartbeat, finish). Every test runs on SQLite and on Postgres."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.core.db import get_engine
from backend.main import create_app
from backend.models import MetricPoint
from worker.engine.model_stats import model_size
from worker.engine.spec import EngineSpec
from tests.utils.factories import (
    API,
    DEFAULT_MLP_MACS,
    DEFAULT_MLP_PARAMS,
    create_run,
    epoch_points,
    finish_run,
    post_points,
    queued_messages,
    report_size,
    run_count,
    start_run,
    started_run,
    valid_spec,
)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _assert_includes(actual: dict, expected: dict, path: str = "spec") -> None:
    """`actual` has every key of `expected` with that value (nested dicts likewise): options added
    to the registries later do not break the check of the ones named here."""
    for key, value in expected.items():
        assert key in actual, f"{path}.{key} missing"
        if isinstance(value, dict):
            _assert_includes(actual[key], value, f"{path}.{key}")
        else:
            assert actual[key] == value, f"{path}.{key}: {actual[key]!r} != {value!r}"


def _stored_points(settings, run_id: int) -> int:
    with get_engine(settings).connect() as connection:
        return connection.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id))


# Submitting


def test_create_returns_queued_run_with_normalised_spec_and_size(client, settings):
    """Stored with every default filled in from the schema the worker published; sized by the
    worker when it starts the run."""
    assert queued_messages(settings) == 0
    response = client.post(f"{API}/runs", json={"spec": valid_spec(), "name": "first", "group": "study-a"})
    assert response.status_code == 201, response.text
    run = response.json()

    assert run["status"] == "queued"
    assert run["name"] == "first"
    assert run["group"] == "study-a"
    # every field of the spec is stored, defaults filled in, exactly as the engine will read it
    assert run["spec"] == EngineSpec.model_validate(valid_spec()).model_dump(mode="json")
    expected_defaults = {
        "model": {"name": "mlp", "hidden_sizes": [128, 64], "activation": "sigmoid", "weight_init": "xavier",
                  "dropout": 0.0},
        "dataset": {"name": "synthetic_mnist", "num_train": 2000, "num_test": 500, "noise": 2.0},
        "optimizer": {"name": "sgd", "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
        "learning_rate": 0.1,
        "scheduler": {"name": "constant", "warmup_epochs": 0},
        "epochs": 2,
        "batch_size": 32,
        "seed": 0,
        "device": "auto",
    }
    _assert_includes(run["spec"], expected_defaults)
    assert run["param_count"] is None and run["macs"] is None  # measured by the worker that trains it
    assert run["attempt"] == 0
    assert run["epochs_completed"] == 0
    assert run["cancel_requested"] is False
    assert run["started_at"] is None and run["finished_at"] is None and run["heartbeat_at"] is None
    assert run["worker_host"] is None and run["error"] is None
    assert _time(run["created_at"]).tzinfo is not None  # times carry their zone

    assert queued_messages(settings) == 1  # exactly one "train this run" message
    assert client.get(f"{API}/runs/{run['id']}").json() == run
    measured = model_size(EngineSpec.model_validate(run["spec"]))
    assert measured == (DEFAULT_MLP_PARAMS, DEFAULT_MLP_MACS) == (109386, 109184)
    sized = report_size(client, run["id"], *measured)
    assert (sized["param_count"], sized["macs"]) == (109386, 109184)


def test_create_defaults_the_name_and_keeps_given_options(client):
    spec = valid_spec(
        model={"name": "mlp", "hidden_sizes": [32], "activation": "relu"},
        optimizer={"name": "adam", "betas": [0.8, 0.99]},
        scheduler="cosine",
        seed=7,
        device="cpu",
    )
    run = create_run(client, spec=spec)
    assert run["name"] == "mlp on synthetic_mnist"
    assert run["group"] is None
    _assert_includes(
        run["spec"],
        {
            "model": {"name": "mlp", "hidden_sizes": [32], "activation": "relu", "weight_init": "xavier",
                      "dropout": 0.0},
            "optimizer": {"name": "adam", "betas": [0.8, 0.99], "eps": 1e-8, "weight_decay": 0.0},
            "scheduler": {"name": "cosine", "min_lr_ratio": 0.0, "warmup_epochs": 0},
            "seed": 7,
            "device": "cpu",
        },
    )
    params, macs = model_size(EngineSpec.model_validate(run["spec"]))
    assert (params, macs) == (784 * 32 + 32 + 32 * 10 + 10, 784 * 32 + 32 * 10)


def test_each_submission_queues_one_message(client, settings):
    for expected in (1, 2, 3):
        create_run(client)
        assert queued_messages(settings) == expected


def test_deleted_run_id_is_not_given_to_a_new_run(client):
    first = create_run(client, name="kept")
    last = create_run(client, name="deleted")
    assert client.delete(f"{API}/runs/{last['id']}").status_code == 204
    new = create_run(client, name="new")
    assert new["id"] not in (first["id"], last["id"])
    assert client.get(f"{API}/runs/{last['id']}").status_code == 404


# Listing and reading


@pytest.fixture
def listed(client):
    """Five runs in three groups, two of them then cancelled, created in this order."""
    runs = [
        create_run(client, name="charlie", group="g1"),
        create_run(client, name="alpha", group="g1"),
        create_run(client, name="bravo lr 100%", group="g2"),
        create_run(client, name="delta lr 1000"),
        create_run(client, name="echo", group="g2"),
    ]
    for run in (runs[1], runs[4]):
        assert client.post(f"{API}/runs/{run['id']}/cancel").status_code == 200
    return runs


def _names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [run["name"] for run in response.json()["data"]]


def test_list_is_newest_first_by_default(client, listed):
    response = client.get(f"{API}/runs")
    assert response.json()["count"] == 5
    assert _names(response) == ["echo", "delta lr 1000", "bravo lr 100%", "alpha", "charlie"]
    assert [r["id"] for r in response.json()["data"]] == [r["id"] for r in reversed(listed)]


def test_list_filters_by_status(client, listed):
    response = client.get(f"{API}/runs", params={"status": "cancelled"})
    assert sorted(_names(response)) == ["alpha", "echo"]
    assert response.json()["count"] == 2
    response = client.get(f"{API}/runs", params={"status": ["cancelled", "queued"]})
    assert response.json()["count"] == 5
    response = client.get(f"{API}/runs", params={"status": "running"})
    assert response.json() == {"data": [], "count": 0}
    assert client.get(f"{API}/runs", params={"status": "paused"}).status_code == 422


def test_list_filters_by_group_and_name(client, listed):
    assert sorted(_names(client.get(f"{API}/runs", params={"group": "g1"}))) == ["alpha", "charlie"]
    assert sorted(_names(client.get(f"{API}/runs", params={"group": "g2"}))) == ["bravo lr 100%", "echo"]
    assert _names(client.get(f"{API}/runs", params={"group": "g"})) == []  # a group is matched whole
    assert sorted(_names(client.get(f"{API}/runs", params={"name": "lr"}))) == ["bravo lr 100%", "delta lr 1000"]
    # '%' and '_' are plain characters in the filter, not wildcards
    assert _names(client.get(f"{API}/runs", params={"name": "100%"})) == ["bravo lr 100%"]
    assert _names(client.get(f"{API}/runs", params={"name": "lr_1"})) == []
    response = client.get(f"{API}/runs", params={"group": "g2", "status": "queued"})
    assert _names(response) == ["bravo lr 100%"] and response.json()["count"] == 1


def test_list_sorts(client, listed):
    names = ["alpha", "bravo lr 100%", "charlie", "delta lr 1000", "echo"]
    assert _names(client.get(f"{API}/runs", params={"sort": "name"})) == names
    assert _names(client.get(f"{API}/runs", params={"sort": "-name"})) == names[::-1]
    assert _names(client.get(f"{API}/runs", params={"sort": "created_at"})) == [r["name"] for r in listed]
    assert _names(client.get(f"{API}/runs", params={"sort": "-created_at"})) == [r["name"] for r in listed][::-1]
    assert _names(client.get(f"{API}/runs", params={"sort": "id"})) == [r["name"] for r in listed]
    for bad in ("spec", "name;drop", "--name", "secret"):
        assert client.get(f"{API}/runs", params={"sort": bad}).status_code == 422, bad


def test_list_paginates_with_total_count(client, listed):
    pages = []
    for offset in (0, 2, 4):
        response = client.get(f"{API}/runs", params={"sort": "name", "limit": 2, "offset": offset})
        assert response.json()["count"] == 5
        pages.append(_names(response))
    assert pages == [["alpha", "bravo lr 100%"], ["charlie", "delta lr 1000"], ["echo"]]
    response = client.get(f"{API}/runs", params={"limit": 2, "offset": 10})
    assert response.json() == {"data": [], "count": 5}
    response = client.get(f"{API}/runs", params={"status": "cancelled", "limit": 1})
    assert len(response.json()["data"]) == 1 and response.json()["count"] == 2
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert client.get(f"{API}/runs", params=params).status_code == 422, params


def test_empty_list(client):
    assert client.get(f"{API}/runs").json() == {"data": [], "count": 0}


def test_unknown_run_is_404(client):
    create_run(client)
    for method, path, body in [
        ("GET", "/runs/999", None),
        ("POST", "/runs/999/cancel", None),
        ("DELETE", "/runs/999", None),
        ("POST", "/runs/999/start", {"worker_host": "w1"}),
        ("POST", "/runs/999/heartbeat", {"attempt": 1}),
        ("POST", "/runs/999/finish", {"attempt": 1, "status": "completed"}),
        ("POST", "/runs/999/release", {"attempt": 1}),
        ("GET", "/runs/999/metrics", None),
        ("POST", "/runs/999/metrics", {"attempt": 1, "points": []}),
    ]:
        response = client.request(method, f"{API}{path}", json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "999" in response.json()["detail"]


# Cancel


def test_cancel_queued_run_is_immediate(client):
    run = create_run(client)
    response = client.post(f"{API}/runs/{run['id']}/cancel")
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    assert _time(cancelled["finished_at"]) >= _time(run["created_at"])
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == "cancelled"
    # a worker that picks up the message afterwards may not start it
    assert client.post(f"{API}/runs/{run['id']}/start", json={"worker_host": "w1"}).status_code == 409


def test_cancel_running_run_asks_the_worker_to_stop(client):
    run = create_run(client)
    start_run(client, run["id"])
    response = client.post(f"{API}/runs/{run['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert response.json()["cancel_requested"] is True
    assert response.json()["finished_at"] is None

    beat = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1})
    assert beat.status_code == 200
    assert beat.json() == {"status": "running", "cancel_requested": True}

    # asking twice is harmless
    assert client.post(f"{API}/runs/{run['id']}/cancel").json()["status"] == "running"

    finished = finish_run(client, run["id"], "cancelled", epochs_completed=1)
    assert finished["status"] == "cancelled"
    assert finished["finished_at"] is not None
    assert finished["epochs_completed"] == 1
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == "cancelled"


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
def test_cancel_finished_run_is_409(client, final):
    run = create_run(client)
    start_run(client, run["id"])
    finish_run(client, run["id"], final)
    response = client.post(f"{API}/runs/{run['id']}/cancel")
    assert response.status_code == 409
    assert final in response.json()["detail"]
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == final


# Delete


@pytest.mark.parametrize("state", ["queued", "completed", "cancelled"])
def test_delete_removes_run_and_its_metrics(client, settings, state):
    other = started_run(client, name="other")
    post_points(client, other["id"], epoch_points(1))
    run = started_run(client, name="doomed")
    post_points(client, run["id"], epoch_points(1) + epoch_points(2))
    if state == "completed":
        finish_run(client, run["id"])
    else:  # back to the queue (its worker shut down), then perhaps cancelled there
        assert client.post(f"{API}/runs/{run['id']}/release", json={"attempt": 1}).status_code == 200
        if state == "cancelled":
            client.post(f"{API}/runs/{run['id']}/cancel")
    assert _stored_points(settings, run["id"]) == 6

    response = client.delete(f"{API}/runs/{run['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"{API}/runs/{run['id']}").status_code == 404
    assert client.get(f"{API}/runs/{run['id']}/metrics").status_code == 404
    assert _stored_points(settings, run["id"]) == 0
    assert client.delete(f"{API}/runs/{run['id']}").status_code == 404

    # the other run and its points are untouched
    assert run_count(client) == 1
    assert len(client.get(f"{API}/runs/{other['id']}/metrics").json()["points"]) == 3
    # a run submitted afterwards starts with no points
    new = create_run(client, name="new")
    assert client.get(f"{API}/runs/{new['id']}/metrics").json()["points"] == []


def test_delete_running_run_is_409(client):
    run = create_run(client)
    start_run(client, run["id"])
    response = client.delete(f"{API}/runs/{run['id']}")
    assert response.status_code == 409
    assert "cancel" in response.json()["detail"]
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == "running"


# Start: a worker claims a run


def test_start_claims_a_queued_run(client, settings):
    run = create_run(client)
    started = start_run(client, run["id"], "gpu-box-1")
    assert started["status"] == "running"
    assert started["worker_host"] == "gpu-box-1"
    assert started["attempt"] == 1
    assert started["heartbeat_seconds"] == settings.heartbeat_seconds  # how often the worker must beat
    assert started["started_at"] is not None and started["heartbeat_at"] is not None
    assert started["finished_at"] is None
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == "running"
    assert client.get(f"{API}/runs", params={"status": "running"}).json()["count"] == 1


def test_two_workers_never_hold_one_run(client):
    run = create_run(client)
    start_run(client, run["id"], "w1")
    response = client.post(f"{API}/runs/{run['id']}/start", json={"worker_host": "w2"})
    assert response.status_code == 409
    assert "w1" in response.json()["detail"]
    again = client.get(f"{API}/runs/{run['id']}").json()
    assert again["worker_host"] == "w1" and again["attempt"] == 1 and again["status"] == "running"


def test_run_of_a_dead_worker_is_claimed_again_with_a_new_attempt(migrated):
    quick = migrated.model_copy(update={"heartbeat_seconds": 0.05})  # stale after 0.15 s without a beat
    with TestClient(create_app(quick), base_url="http://localhost") as client:
        run = create_run(client)
        first = start_run(client, run["id"], "w1")
        time.sleep(0.4)
        second = start_run(client, run["id"], "w2")
        assert second["attempt"] == 2
        assert second["worker_host"] == "w2"
        assert second["started_at"] == first["started_at"]  # when training first began
        assert _time(second["heartbeat_at"]) > _time(first["heartbeat_at"])
        assert client.get(f"{API}/runs/{run['id']}").json()["worker_host"] == "w2"


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
def test_start_of_a_finished_run_is_409(client, final):
    run = create_run(client)
    if final == "cancelled":
        client.post(f"{API}/runs/{run['id']}/cancel")
    else:
        start_run(client, run["id"])
        finish_run(client, run["id"], final)
    response = client.post(f"{API}/runs/{run['id']}/start", json={"worker_host": "w2"})
    assert response.status_code == 409
    assert final in response.json()["detail"]
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == final


def test_start_needs_a_worker_host(client):
    run = create_run(client)
    for body in ({}, {"worker_host": ""}, {"worker_host": "w1", "extra": 1}):
        assert client.post(f"{API}/runs/{run['id']}/start", json=body).status_code == 422, body
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == "queued"


# Heartbeat


def test_heartbeat_records_progress(client):
    run = create_run(client)
    started = start_run(client, run["id"])
    time.sleep(0.01)
    beat = client.post(
        f"{API}/runs/{run['id']}/heartbeat",
        json={"attempt": 1, "epochs_completed": 1, "device_name": "NVIDIA H100", "environment": {"torch": "2.4"}},
    )
    assert beat.status_code == 200
    assert beat.json() == {"status": "running", "cancel_requested": False}
    now = client.get(f"{API}/runs/{run['id']}").json()
    assert now["epochs_completed"] == 1
    assert now["device_name"] == "NVIDIA H100"
    assert now["environment"] == {"torch": "2.4"}
    assert _time(now["heartbeat_at"]) > _time(started["heartbeat_at"])

    time.sleep(0.01)
    client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1, "epochs_completed": 2})
    later = client.get(f"{API}/runs/{run['id']}").json()
    assert later["epochs_completed"] == 2
    assert later["device_name"] == "NVIDIA H100"  # not forgotten by a beat that does not repeat it
    assert _time(later["heartbeat_at"]) > _time(now["heartbeat_at"])

    # a late, out-of-order beat never moves progress backwards
    client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1, "epochs_completed": 1})
    assert client.get(f"{API}/runs/{run['id']}").json()["epochs_completed"] == 2

    bad = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1, "epochs_completed": -1})
    assert bad.status_code == 422


def test_heartbeat_of_a_finished_run_tells_the_worker_to_stop(client):
    run = create_run(client)
    start_run(client, run["id"])
    done = finish_run(client, run["id"], "completed", epochs_completed=2)
    beat = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1, "epochs_completed": 5})
    assert beat.status_code == 200
    assert beat.json() == {"status": "completed", "cancel_requested": True}
    after = client.get(f"{API}/runs/{run['id']}").json()
    assert after["epochs_completed"] == 2
    assert after["heartbeat_at"] == done["heartbeat_at"]


def test_heartbeat_of_a_run_never_claimed_is_refused_and_changes_nothing(client):
    run = create_run(client)
    beat = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1, "epochs_completed": 1})
    assert beat.status_code == 409  # no worker holds attempt 1 of it
    after = client.get(f"{API}/runs/{run['id']}").json()
    assert after["heartbeat_at"] is None and after["epochs_completed"] == 0


# Finish


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
def test_finish_is_idempotent_for_the_same_status(client, final):
    run = create_run(client)
    start_run(client, run["id"])
    error = "CUDA out of memory" if final == "failed" else None
    first = finish_run(client, run["id"], final, error=error, epochs_completed=2)
    assert first["status"] == final
    assert first["error"] == error
    assert first["epochs_completed"] == 2
    assert first["finished_at"] is not None
    assert first["worker_host"] == "w1"

    again = finish_run(client, run["id"], final, error=error, epochs_completed=2)
    assert again["status"] == final
    assert again["finished_at"] == first["finished_at"]

    other = "failed" if final != "failed" else "completed"
    response = client.post(f"{API}/runs/{run['id']}/finish", json={"attempt": 1, "status": other})
    assert response.status_code == 409
    assert final in response.json()["detail"]
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == final


def test_finish_refuses_a_status_that_is_not_final(client):
    run = create_run(client)
    start_run(client, run["id"])
    for status in ("running", "queued", "done", None):
        assert client.post(f"{API}/runs/{run['id']}/finish", json={"attempt": 1, "status": status}).status_code == 422
    assert client.get(f"{API}/runs/{run['id']}").json()["status"] == "running"


def test_full_life_cycle_keeps_times_in_order(client):
    run = create_run(client)
    started = start_run(client, run["id"])
    client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1, "epochs_completed": 1})
    done = finish_run(client, run["id"], "completed", epochs_completed=2)
    created, began, ended = _time(run["created_at"]), _time(started["started_at"]), _time(done["finished_at"])
    assert created <= began <= ended
    assert done["epochs_completed"] == 2
    assert done["cancel_requested"] is False
    assert client.get(f"{API}/runs", params={"status": "completed"}).json()["count"] == 1



# The lease: every report of a worker names the attempt it claimed


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("heartbeat", {"epochs_completed": 1}),
        ("finish", {"status": "completed"}),
        ("release", {"reason": "shutdown"}),
        ("metrics", {"points": [{"name": "loss", "step": 1, "value": 0.5}]}),
    ],
)
def test_a_worker_report_without_its_attempt_is_422_naming_it(client, action, body):
    run = started_run(client)
    response = client.post(f"{API}/runs/{run['id']}/{action}", json=body)
    assert response.status_code == 422, response.text
    assert ["body", "attempt"] in [error["loc"] for error in response.json()["detail"]]
    after = client.get(f"{API}/runs/{run['id']}").json()
    assert (after["status"], after["epochs_completed"], after["summary"]) == ("running", 0, {})


@pytest.mark.timeout(120)
def test_racing_workers_claim_a_run_exactly_once(client):
    """Several workers receive the same run at the same moment: exactly one gets it."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    workers = 6
    for _ in range(3):
        run = create_run(client)
        barrier = Barrier(workers)

        def claim(index: int, run_id: int = run["id"], barrier: Barrier = barrier) -> tuple[int, str]:
            barrier.wait(timeout=30)
            response = client.post(f"{API}/runs/{run_id}/start", json={"worker_host": f"w{index}"})
            return response.status_code, response.json().get("worker_host", "")

        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(claim, range(workers)))
        codes = sorted(code for code, _ in results)
        assert codes == [200] + [409] * (workers - 1), results
        winner = next(host for code, host in results if code == 200)
        now = client.get(f"{API}/runs/{run['id']}").json()
        assert now["worker_host"] == winner
        assert now["attempt"] == 1


def test_runs_without_a_value_sort_last_both_ways(client):
    """Sorting by a time or a group that some runs lack yet: those runs come after the others,
    in either direction and on either database."""
    done_first = create_run(client, name="done first", group="b")
    start_run(client, done_first["id"])
    finish_run(client, done_first["id"])
    create_run(client, name="queued")
    done_second = create_run(client, name="done second", group="a")
    start_run(client, done_second["id"])
    finish_run(client, done_second["id"])
    create_run(client, name="running")
    client.post(f"{API}/runs/{client.get(f'{API}/runs', params={'name': 'running'}).json()['data'][0]['id']}/start",
                json={"worker_host": "w1"})

    finished = _names(client.get(f"{API}/runs", params={"sort": "finished_at"}))
    assert finished[:2] == ["done first", "done second"] and set(finished[2:]) == {"queued", "running"}
    finished = _names(client.get(f"{API}/runs", params={"sort": "-finished_at"}))
    assert finished[:2] == ["done second", "done first"] and set(finished[2:]) == {"queued", "running"}
    started = _names(client.get(f"{API}/runs", params={"sort": "-started_at"}))
    assert started[:3] == ["running", "done second", "done first"] and started[3] == "queued"
    groups = _names(client.get(f"{API}/runs", params={"sort": "group"}))
    assert groups[:2] == ["done second", "done first"] and set(groups[2:]) == {"queued", "running"}
    groups = _names(client.get(f"{API}/runs", params={"sort": "-group"}))
    assert groups[:2] == ["done first", "done second"] and set(groups[2:]) == {"queued", "running"}


def test_sort_by_size(client):
    runs = {}
    models = {"small": {"name": "mlp", "hidden_sizes": [8]}, "large": {"name": "mlp", "hidden_sizes": [256, 256]},
              "middle": "mlp"}
    for name, model in models.items():
        run = create_run(client, name=name, spec=valid_spec(model=model))
        runs[name] = report_size(client, run["id"], *model_size(EngineSpec.model_validate(run["spec"])))
    assert runs["small"]["param_count"] < runs["middle"]["param_count"] < runs["large"]["param_count"]
    assert _names(client.get(f"{API}/runs", params={"sort": "param_count"})) == ["small", "middle", "large"]
    assert _names(client.get(f"{API}/runs", params={"sort": "-macs"})) == ["large", "middle", "small"]
