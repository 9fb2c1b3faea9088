"""Numbers as JSON writes them, in every request body (issue 12, rows 12 and 14: pydantic read "1"
or true as 1, and false as 0.0, which schemathesis' negative_data_rejection reported): an integer
field refuses 2.5, "2" and true, a number field refuses "0.5" and false, each with a 422 naming the
field, and nothing is stored. An integer is still a number."""

from __future__ import annotations

import pytest

from tests.utils.factories import API, post_points, started_run, valid_spec

POINT = {"name": "val_loss", "step": 1, "value": 0.5}


def _points(client, run_id: int, **changes) -> tuple[int, list]:
    body = {"attempt": 1, "points": [{**POINT, **changes}]}
    response = client.post(f"{API}/runs/{run_id}/metrics", json=body)
    return response.status_code, response.json().get("detail")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"step": "1"}, "step"),
        ({"step": True}, "step"),
        ({"step": 1.0}, "step"),
        ({"value": "0.5"}, "value"),
        ({"value": False}, "value"),
        ({"wall_time": "1700000000"}, "wall_time"),
    ],
)
def test_a_point_takes_json_numbers_only(client, changes, field):
    run = started_run(client)
    status, detail = _points(client, run["id"], **changes)
    assert status == 422, detail
    assert detail[0]["loc"][-1] == field and detail[0]["loc"][:3] == ["body", "points", 0]
    assert client.get(f"{API}/runs/{run['id']}/metrics").json()["points"] == []


def test_an_integer_is_a_number(client):
    run = started_run(client)
    post_points(client, run["id"], [{**POINT, "value": 1, "wall_time": 1_700_000_000}])
    [point] = client.get(f"{API}/runs/{run['id']}/metrics").json()["points"]
    assert point["value"] == 1.0 and point["wall_time"] == 1_700_000_000.0


@pytest.mark.parametrize(
    "route, body, field",
    [
        ("metrics", {"attempt": "1", "points": [POINT]}, "attempt"),
        ("heartbeat", {"attempt": 1, "epochs_completed": "2"}, "epochs_completed"),
        ("heartbeat", {"attempt": 1, "epochs_completed": 2.5}, "epochs_completed"),
        ("heartbeat", {"attempt": 1, "param_count": True}, "param_count"),
        ("heartbeat", {"attempt": 1, "macs": "10"}, "macs"),
        ("finish", {"attempt": 1, "status": "completed", "epochs_completed": True}, "epochs_completed"),
    ],
)
def test_worker_reports_take_json_integers_only(client, route, body, field):
    run = started_run(client)
    response = client.post(f"{API}/runs/{run['id']}/{route}", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]
    after = client.get(f"{API}/runs/{run['id']}").json()
    assert after["status"] == "running" and after["epochs_completed"] == 0 and after["param_count"] is None


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"seeds": "3"}, "seeds"),
        ({"seeds": True}, "seeds"),
        ({"seeds": [1, "2"]}, "seeds"),
        ({"max_runs": 5.0}, "max_runs"),
    ],
)
def test_a_study_takes_json_integers_only(client, fields, field):
    body = {"name": "strict", "base_spec": valid_spec(), "grid": {"learning_rate": [0.1, 0.01]}, **fields}
    response = client.post(f"{API}/studies", json=body)
    assert response.status_code == 422, response.text
    assert all(error["loc"][:2] == ["body", field] for error in response.json()["detail"])
    assert client.get(f"{API}/studies").json()["count"] == 0


def test_extending_a_study_takes_a_json_integer(client):
    body = {"name": "strict", "base_spec": valid_spec(), "grid": {"learning_rate": [0.1]}, "seeds": 1}
    study = client.post(f"{API}/studies", json=body).json()
    response = client.post(f"{API}/studies/{study['id']}/extend", json={"seeds": "2"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "seeds"]
