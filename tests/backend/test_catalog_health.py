"""The catalog (what can be trained, with every option) and the health check, including what a
user sees when the broker is down."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.utils.factories import API, create_run, run_count, valid_spec
from trainboard.queues import DEFAULT_QUEUE
from worker.zoo import MODELS

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _by_name(entries: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in entries}


def _options(entry: dict) -> dict[str, dict]:
    return {option["name"]: option for option in entry["options"]}


@pytest.fixture
def catalog(client) -> dict:
    response = client.get(f"{API}/catalog")
    assert response.status_code == 200
    return response.json()


def test_catalog_lists_the_mlp_with_its_options(catalog):
    mlp = _by_name(catalog["models"])["mlp"]
    assert mlp["task"] == "classification"
    assert mlp["framework"] == "torch"
    assert mlp["description"]
    options = _options(mlp)
    assert "name" not in options  # the discriminator is not an option
    assert options["hidden_sizes"]["default"] == [128, 64]
    assert options["hidden_sizes"]["type"] == "list[int]"
    assert options["hidden_sizes"]["ge"] == 1 and options["hidden_sizes"]["le"] == 65536
    assert options["activation"]["type"] == "choice"
    assert options["activation"]["default"] == "sigmoid"
    assert set(options["activation"]["choices"]) >= {"sigmoid", "relu", "elu", "tanh"}
    assert options["weight_init"]["choices"] == ["default", "xavier", "normal"]
    assert options["weight_init"]["default"] == "xavier"
    assert options["dropout"] == {**options["dropout"], "type": "float", "default": 0.0, "ge": 0.0, "lt": 1.0}


def test_catalog_lists_the_datasets_with_their_shapes(catalog):
    datasets = _by_name(catalog["datasets"])
    assert datasets["synthetic_mnist"]["input_shape"] == [1, 28, 28]
    assert datasets["synthetic_cifar10"]["input_shape"] == [3, 32, 32]
    for name in ("synthetic_mnist", "synthetic_cifar10"):
        assert datasets[name]["num_classes"] == 10
        assert datasets[name]["task"] == "classification"
        options = _options(datasets[name])
        assert options["num_train"] == {**options["num_train"], "type": "int", "default": 2000, "ge": 10}
        assert options["noise"]["default"] == 2.0 and options["noise"]["le"] == 10.0


def test_catalog_lists_optimizers_with_defaults_and_bounds(catalog):
    optimizers = _by_name(catalog["optimizers"])
    assert set(optimizers) >= {"sgd", "adam", "adamw", "rmsprop", "adagrad"}
    sgd = _options(optimizers["sgd"])
    assert sgd["momentum"] == {**sgd["momentum"], "type": "float", "default": 0.0, "ge": 0.0, "lt": 1.0}
    assert sgd["nesterov"]["type"] == "bool" and sgd["nesterov"]["default"] is False
    adam = _options(optimizers["adam"])
    assert adam["betas"] == {**adam["betas"], "type": "list[float]", "default": [0.9, 0.999], "ge": 0.0, "lt": 1.0}
    assert adam["eps"]["default"] == 1e-8 and adam["eps"]["gt"] == 0.0
    assert _options(optimizers["adamw"])["weight_decay"]["default"] == 0.01
    assert _options(optimizers["rmsprop"])["alpha"]["default"] == 0.99
    for optimizer in optimizers.values():
        decay = _options(optimizer)["weight_decay"]
        assert decay["ge"] == 0.0 and decay["le"] == 1.0


def test_catalog_lists_schedulers_with_defaults_and_bounds(catalog):
    schedulers = _by_name(catalog["schedulers"])
    assert set(schedulers) >= {"constant", "step", "cosine", "onecycle"}
    assert _options(schedulers["constant"])["warmup_epochs"]["default"] == 0
    step = _options(schedulers["step"])
    assert step["step_size"] == {**step["step_size"], "type": "int", "default": 10, "ge": 1}
    assert step["gamma"] == {**step["gamma"], "default": 0.1, "gt": 0.0, "le": 1.0}
    assert _options(schedulers["cosine"])["min_lr_ratio"]["default"] == 0.0
    pct = _options(schedulers["onecycle"])["pct_start"]
    assert pct["default"] == 0.3 and pct["gt"] == 0.0 and pct["lt"] == 1.0


def test_catalog_has_the_spec_schema(catalog):
    schema = catalog["spec_schema"]
    assert set(schema["required"]) >= {"model", "dataset", "learning_rate", "epochs", "batch_size"}
    lr = schema["properties"]["learning_rate"]
    assert lr["exclusiveMinimum"] == 0 and lr["maximum"] == 10
    epochs = schema["properties"]["epochs"]
    assert epochs["minimum"] == 1 and epochs["maximum"] == 10_000
    assert schema["properties"]["seed"]["default"] == 0
    assert catalog["metrics_by_task"]["segmentation"][:3] == ["train_loss", "val_loss", "val_dice"]
    assert "val_accuracy" in catalog["metrics_by_task"]["classification"]


def test_catalog_defaults_are_accepted(client, catalog):
    """A form filled with the catalog's defaults submits: every optimizer and scheduler, every option."""
    for kind in ("optimizers", "schedulers"):
        for entry in catalog[kind]:
            chosen = {"name": entry["name"], **{o["name"]: o["default"] for o in entry["options"]}}
            run = create_run(client, spec=valid_spec(**{kind[:-1]: chosen}))
            assert run["spec"][kind[:-1]] == chosen
    mlp = _by_name(catalog["models"])["mlp"]
    chosen = {"name": "mlp", **{o["name"]: o["default"] for o in mlp["options"]}}
    assert create_run(client, spec=valid_spec(model=chosen))["spec"]["model"] == chosen


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_catalog_model_can_be_submitted(client, catalog, model):
    """Each model, on the first dataset of its task: a 201, never a 500. Its size is not known
    yet: the worker that trains it measures it (tests/worker/test_tasks.py)."""
    task = _by_name(catalog["models"])[model]["task"]
    dataset = next(d["name"] for d in catalog["datasets"] if d["task"] == task)
    run = create_run(client, spec=valid_spec(model=model, dataset=dataset, batch_size=8))
    assert run["spec"]["model"]["name"] == model
    assert run["param_count"] is None and run["queue"] == DEFAULT_QUEUE


def test_catalog_is_the_same_each_time(client, catalog):
    assert client.get(f"{API}/catalog").json() == catalog


# Health


@pytest.mark.parametrize("path", ["/health", f"{API}/health"])
def test_health_ok(client, path):
    response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body.get("status", "ok") == "ok"


@pytest.fixture
def broker_down(migrated):
    settings = migrated.model_copy(update={"broker_url": UNREACHABLE_BROKER})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


@pytest.mark.timeout(60)
def test_health_names_the_broker_when_it_is_down(broker_down):
    for path in ("/health", f"{API}/health"):
        started = time.monotonic()
        response = broker_down.get(path)
        assert time.monotonic() - started < 10
        assert response.status_code == 503
        body = response.json()
        assert body["database"] == "ok"
        assert body["broker"] != "ok" and "unreachable" in body["broker"]


@pytest.mark.timeout(60)
def test_submit_with_broker_down_is_503_and_stores_nothing(broker_down):
    started = time.monotonic()
    response = broker_down.post(f"{API}/runs", json={"spec": valid_spec()})
    assert time.monotonic() - started < 10  # an answer within seconds, not a hang
    assert response.status_code == 503
    assert "broker" in response.json()["detail"]
    assert run_count(broker_down) == 0
    assert broker_down.get(f"{API}/runs/1").status_code == 404
    # reads keep working meanwhile
    assert broker_down.get(f"{API}/catalog").status_code == 200


@pytest.mark.redis
def test_redis_broker_receives_the_run(migrated, redis_url):
    """The scaled setup: runs are queued in Redis."""
    import redis

    settings = migrated.model_copy(update={"broker_url": redis_url})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        assert client.get("/health").json()["broker"] == "ok"
        create_run(client)
        create_run(client)
    assert redis.Redis.from_url(redis_url).llen(DEFAULT_QUEUE) == 2
