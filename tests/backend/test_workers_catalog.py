"""The catalog comes from the workers: what each publishes is stored (it outlives an API
restart), `GET /catalog` is the union of the recent ones with who offers what, specs are
checked against the published schemas, and runs are routed to the queue of their packages."""

from __future__ import annotations

import copy
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.main import create_app
from backend.models import Worker
from backend.models.base import utcnow
from tests.utils.catalog import TEST_WORKER, builtin_catalog
from tests.utils.factories import API, queued_messages, run_count, valid_spec
from trainboard.queues import DEFAULT_QUEUE

PLUGIN_MODEL = {
    "name": "tiny_cnn",
    "description": "A plugin's model",
    "task": "classification",
    "framework": "torch",
    "package": "my-plugin",
    "package_version": "1.2.0",
    "options": [{"name": "width", "type": "int", "default": 8, "ge": 1, "le": 512, "description": None}],
    "options_schema": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"const": "tiny_cnn", "default": "tiny_cnn", "type": "string"},
            "width": {"type": "integer", "default": 8, "minimum": 1, "maximum": 512},
        },
    },
}


def plugin_worker(name: str = "trainboard@gpu-box") -> dict:
    """A worker with the built-in zoo and a plugin's model."""
    catalog = copy.deepcopy(builtin_catalog())
    catalog.update(name=name, hostname="gpu-box", models=[*catalog["models"], PLUGIN_MODEL])
    catalog["queues"] = [DEFAULT_QUEUE, "trainboard.my-plugin", "trainboard.my-plugin+trainboard"]
    return catalog


def publish(client: TestClient, catalog: dict, **extra) -> dict:
    response = client.post(f"{API}/workers", json={**catalog, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def models(client: TestClient) -> dict[str, dict]:
    return {entry["name"]: entry for entry in client.get(f"{API}/catalog").json()["models"]}


def test_the_catalog_is_the_union_of_what_workers_publish(client, migrated):
    assert publish(client, plugin_worker()) == {"publish_seconds": migrated.worker_publish_seconds}
    offered = models(client)
    assert offered["tiny_cnn"]["workers"] == ["trainboard@gpu-box"]
    assert offered["tiny_cnn"]["package"] == "my-plugin" and offered["tiny_cnn"]["options"][0]["name"] == "width"
    assert sorted(offered["mlp"]["workers"]) == sorted(["trainboard@gpu-box", TEST_WORKER])
    workers = {w["name"]: w for w in client.get(f"{API}/workers").json()["data"]}
    assert workers["trainboard@gpu-box"]["online"] and "my-plugin" in workers["trainboard@gpu-box"]["packages"]

    # Stored: a restarted API knows it at once.
    with TestClient(create_app(migrated), base_url="http://localhost") as restarted:
        assert models(restarted)["tiny_cnn"]["workers"] == ["trainboard@gpu-box"]


def test_a_stopped_worker_is_offline_but_its_runs_still_queue(client):
    publish(client, plugin_worker(), stopping=True)
    workers = {w["name"]: w for w in client.get(f"{API}/workers").json()["data"]}
    assert workers["trainboard@gpu-box"]["online"] is False
    response = client.post(f"{API}/runs", json={"spec": valid_spec(model="tiny_cnn")})
    assert response.status_code == 201  # waits in its queue for the worker to come back


def test_workers_not_seen_for_longer_than_the_ttl_leave_the_catalog(client, migrated):
    publish(client, plugin_worker())
    with client.app.state.session_factory() as session:
        too_old = utcnow() - timedelta(seconds=migrated.catalog_ttl_seconds + 60)
        session.execute(update(Worker).where(Worker.name == "trainboard@gpu-box").values(last_seen_at=too_old))
        session.commit()
    assert "tiny_cnn" not in models(client)
    response = client.post(f"{API}/runs", json={"spec": valid_spec(model="tiny_cnn")})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "spec", "model", "name"]
    assert "no worker offers model 'tiny_cnn'" in error["msg"] and "mlp" in error["msg"]  # lists what is offered


def test_a_plugin_run_is_routed_to_the_queue_of_its_packages(client, migrated):
    publish(client, plugin_worker())
    response = client.post(f"{API}/runs", json={"spec": valid_spec(model={"name": "tiny_cnn", "width": 16})})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["queue"] == "trainboard.my-plugin+trainboard"
    assert run["spec"]["model"] == {"name": "tiny_cnn", "width": 16}
    assert queued_messages(migrated, "trainboard.my-plugin+trainboard") == 1
    assert queued_messages(migrated, DEFAULT_QUEUE) == 0
    builtin = client.post(f"{API}/runs", json={"spec": valid_spec()}).json()
    assert builtin["queue"] == DEFAULT_QUEUE and queued_messages(migrated, DEFAULT_QUEUE) == 1


def test_options_are_checked_against_the_published_schema(client):
    publish(client, plugin_worker())
    cases = [
        ({"name": "tiny_cnn", "width": 0}, ["body", "spec", "model", "width"], "greater than or equal to 1"),
        ({"name": "tiny_cnn", "width": "wide"}, ["body", "spec", "model", "width"], "valid integer"),
        ({"name": "tiny_cnn", "depth": 3}, ["body", "spec", "model", "depth"], "Extra inputs"),
    ]
    for model, loc, message in cases:
        response = client.post(f"{API}/runs", json={"spec": valid_spec(model=model)})
        assert response.status_code == 422, model
        error = response.json()["detail"][0]
        assert error["loc"] == loc and message in error["msg"], error
    response = client.post(f"{API}/runs", content=b'{"spec": {"model": {"name": "tiny_cnn", "width": NaN},'
                           b' "dataset": "synthetic_mnist", "learning_rate": 0.1, "epochs": 1, "batch_size": 8}}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "spec", "model", "width"]
    assert run_count(client) == 0


def test_a_segmentation_model_on_a_classification_dataset_is_refused(client):
    response = client.post(f"{API}/runs", json={"spec": valid_spec(model="unet")})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "spec", "dataset"] and "segmentation" in error["msg"]


def test_a_worker_catalog_that_is_not_one_is_a_422(client):
    bad = {**builtin_catalog(), "models": [{"name": "x"}]}
    response = client.post(f"{API}/workers", json=bad)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "models", 0]


def test_a_published_entry_must_be_selectable_and_checkable(client):
    """Found by fuzzing: an entry named with braces crashed the 422 of a spec naming another, and a
    schema that is not one would crash every check against it. Both are refused on arrival."""
    for change, loc in [
        ({"name": "a{b}"}, ["body", "models", 0, "name"]),
        ({"options_schema": {"type": 5}}, ["body", "models", 0, "options_schema"]),
        ({"package": "My Plugin"}, ["body", "models", 0, "package"]),
    ]:
        catalog = plugin_worker()
        catalog["models"] = [{**PLUGIN_MODEL, **change}]
        response = client.post(f"{API}/workers", json=catalog)
        assert response.status_code == 422, change
        assert response.json()["detail"][0]["loc"] == loc
    assert "tiny_cnn" not in models(client)


def test_group_labels_leave_out_the_options_a_model_has_by_default(client):
    """Compare and stats label a group by what its model changes, read off the schema the worker
    published: model=convnet(norm=batch), not every option of the convnet."""
    base = valid_spec(model="convnet", dataset="synthetic_cifar10")
    ids = [client.post(f"{API}/runs", json={"spec": {**base, "model": model}}).json()["id"]
           for model in ("convnet", {"name": "convnet", "norm": "batch"})]  # fmt: skip
    groups = client.get(f"{API}/compare", params={"run_id": ids, "group_by": "model"}).json()["groups"]
    assert [g["label"] for g in groups] == ["model=convnet", "model=convnet(norm=batch)"]
