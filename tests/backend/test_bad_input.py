"""Every bad value in a run submission is a 422 that names the field, and then nothing is stored
or queued."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from trainboard.settings import Settings
from tests.utils.catalog import publish_builtin_catalog
from backend.core.db import get_engine
from backend.core.migrate import upgrade
from backend.main import create_app
from tests.conftest import POSTGRES_ADMIN_URL, service_missing
from tests.utils.databases import fresh_postgres_database
from tests.utils.factories import API, create_run, queued_messages, run_count, strict_json, valid_spec

SPEC = ("body", "spec")


def _raw_spec(**raw_values: str) -> str:
    """A request body as JSON text, with some spec values written verbatim (NaN, Infinity...)."""
    text = json.dumps({"spec": valid_spec(**{key: f"@@{key}@@" for key in raw_values})})
    for key, literal in raw_values.items():
        text = text.replace(f'"@@{key}@@"', literal)
    return text


def _spec(**overrides) -> dict:
    return {"spec": valid_spec(**overrides)}


def _model(**options) -> dict:
    return _spec(model={"name": "mlp", **options})


CASES = [
    # learning rate: finite, positive, at most 10
    pytest.param(_raw_spec(learning_rate="NaN"), SPEC + ("learning_rate",), id="lr-nan"),
    pytest.param(_raw_spec(learning_rate="Infinity"), SPEC + ("learning_rate",), id="lr-inf"),
    pytest.param(_raw_spec(learning_rate="-Infinity"), SPEC + ("learning_rate",), id="lr-minus-inf"),
    pytest.param(_spec(learning_rate=-0.1), SPEC + ("learning_rate",), id="lr-negative"),
    pytest.param(_spec(learning_rate=0), SPEC + ("learning_rate",), id="lr-zero"),
    pytest.param(_spec(learning_rate=10.5), SPEC + ("learning_rate",), id="lr-above-10"),
    pytest.param(_spec(learning_rate="fast"), SPEC + ("learning_rate",), id="lr-text"),
    pytest.param(_spec(learning_rate=None), SPEC + ("learning_rate",), id="lr-null"),
    # epochs: a whole number from 1 to 10000
    pytest.param(_spec(epochs=0), SPEC + ("epochs",), id="epochs-zero"),
    pytest.param(_spec(epochs=10001), SPEC + ("epochs",), id="epochs-10001"),
    pytest.param(_spec(epochs=2.5), SPEC + ("epochs",), id="epochs-fraction"),
    pytest.param(_spec(epochs="ten"), SPEC + ("epochs",), id="epochs-text"),
    # batch size: 1 to 65536
    pytest.param(_spec(batch_size=0), SPEC + ("batch_size",), id="batch-zero"),
    pytest.param(_spec(batch_size=70000), SPEC + ("batch_size",), id="batch-70000"),
    # unknown entries of the registries
    pytest.param(_spec(model="resnet9000"), SPEC + ("model", "name"), id="unknown-model"),
    pytest.param(_spec(model={"name": "resnet9000"}), SPEC + ("model", "name"), id="unknown-model-object"),
    pytest.param(_spec(model={"hidden_sizes": [8]}), SPEC + ("model", "name"), id="model-without-name"),
    pytest.param(_spec(dataset="imagenet"), SPEC + ("dataset", "name"), id="unknown-dataset"),
    pytest.param(_spec(optimizer="lbfgs"), SPEC + ("optimizer",), id="unknown-optimizer"),
    pytest.param(_spec(scheduler="plateau"), SPEC + ("scheduler",), id="unknown-scheduler"),
    # options that the chosen entry does not have, or bad option values
    pytest.param(_model(kernel_size=3), SPEC + ("model", "kernel_size"), id="option-not-of-model"),
    pytest.param(_model(hidden_sizes=[0]), SPEC + ("model", "hidden_sizes", 0), id="hidden-size-zero"),
    pytest.param(_model(hidden_sizes=[]), SPEC + ("model", "hidden_sizes"), id="hidden-sizes-empty"),
    pytest.param(_model(activation="swish"), SPEC + ("model", "activation"), id="activation-swish"),
    pytest.param(_model(dropout=1.0), SPEC + ("model", "dropout"), id="dropout-one"),
    pytest.param(_model(weight_init="he"), SPEC + ("model", "weight_init"), id="weight-init-unknown"),
    pytest.param(
        _spec(dataset={"name": "synthetic_mnist", "num_train": 5}),
        SPEC + ("dataset", "num_train"),
        id="dataset-too-small",
    ),
    pytest.param(
        _spec(optimizer={"name": "sgd", "betas": [0.9, 0.99]}),
        SPEC + ("optimizer", "betas"),
        id="option-not-of-optimizer",
    ),
    pytest.param(
        _spec(optimizer={"name": "sgd", "momentum": 1.0}), SPEC + ("optimizer", "momentum"), id="momentum-one"
    ),
    pytest.param(
        _spec(scheduler={"name": "step", "gamma": 0}), SPEC + ("scheduler", "gamma"), id="gamma-zero"
    ),
    # names and groups a person reads
    pytest.param({**_spec(), "name": "x" * 201}, ("body", "name"), id="name-201-chars"),
    pytest.param({**_spec(), "name": "two\nlines"}, ("body", "name"), id="name-newline"),
    pytest.param({**_spec(), "name": "a\tb"}, ("body", "name"), id="name-tab"),
    pytest.param({**_spec(), "name": "red \x1b[31m"}, ("body", "name"), id="name-escape"),
    pytest.param({**_spec(), "name": "nul\x00"}, ("body", "name"), id="name-nul"),
    pytest.param({**_spec(), "name": "del\x7f"}, ("body", "name"), id="name-del"),
    pytest.param({**_spec(), "name": ""}, ("body", "name"), id="name-empty"),
    pytest.param({**_spec(), "name": "   "}, ("body", "name"), id="name-blank"),
    pytest.param({**_spec(), "name": 42}, ("body", "name"), id="name-number"),
    pytest.param({**_spec(), "group": "a\nb"}, ("body", "group"), id="group-newline"),
    pytest.param({**_spec(), "group": "\x1b"}, ("body", "group"), id="group-escape"),
    pytest.param({**_spec(), "group": "g" * 201}, ("body", "group"), id="group-201-chars"),
    # unknown fields are refused, not ignored
    pytest.param(_spec(lr=0.1), SPEC + ("lr",), id="spec-unknown-field"),
    pytest.param({**_spec(), "priority": 1}, ("body", "priority"), id="body-unknown-field"),
    # missing
    pytest.param({"name": "no spec"}, ("body", "spec"), id="spec-missing"),
    pytest.param({"spec": {k: v for k, v in valid_spec().items() if k != "epochs"}}, SPEC + ("epochs",),
                 id="epochs-missing"),
    # seed and device
    pytest.param(_spec(seed=-1), SPEC + ("seed",), id="seed-negative"),
    pytest.param(_spec(seed=2**32), SPEC + ("seed",), id="seed-too-large"),
    pytest.param(_spec(device="gpu7"), SPEC + ("device",), id="device-gpu7"),
    pytest.param(_spec(device="cuda:"), SPEC + ("device",), id="device-cuda-colon"),
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request, tmp_path_factory) -> Iterator[tuple[TestClient, Settings]]:
    """One app per database for all the refusals (each leaves the store as it found it, which is
    what they check), holding one good run, stored and queued."""
    data_dir = tmp_path_factory.mktemp("bad_input")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            database_url = f"sqlite:///{data_dir / 'trainboard.db'}"
        else:
            import psycopg

            try:
                database_url = stack.enter_context(fresh_postgres_database(POSTGRES_ADMIN_URL))
            except psycopg.OperationalError as exc:
                service_missing("PostgreSQL on 127.0.0.1:5432", exc)
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            broker_url=f"embedded+sqlite:///{data_dir / 'broker.db'}",
            api_token=None,
        )
        upgrade(get_engine(settings))
        publish_builtin_catalog(settings)
        client = stack.enter_context(TestClient(create_app(settings), base_url="http://localhost"))
        create_run(client)
        yield client, settings


@pytest.fixture
def baseline(shared) -> tuple[TestClient, Settings]:
    client, settings = shared
    assert run_count(client) == 1
    assert queued_messages(settings) == 1
    return shared


@pytest.mark.parametrize(("body", "loc"), CASES)
def test_bad_run_is_refused_naming_the_field(baseline, body, loc):
    client, settings = baseline
    if isinstance(body, str):
        response = client.post(f"{API}/runs", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(f"{API}/runs", json=body)
    assert response.status_code == 422, response.text
    detail = strict_json(response.content)["detail"]  # valid JSON even when the input was NaN
    locs = [tuple(error["loc"]) for error in detail]
    assert loc in locs, locs
    assert all(error["msg"] for error in detail)
    assert run_count(client) == 1
    assert queued_messages(settings) == 1


def test_malformed_json_is_refused(baseline):
    client, settings = baseline
    response = client.post(f"{API}/runs", content=b'{"spec": {', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert run_count(client) == 1
    assert queued_messages(settings) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "x" * 200},
        {"name": "lr=0.1 · βeta ✓", "group": "study/α"},
        {"name": " padded "},
        {"spec": valid_spec(learning_rate=10, epochs=10000, batch_size=65536, seed=2**32 - 1, device="cuda:1")},
        {"spec": valid_spec(learning_rate=1e-6, epochs=1, batch_size=1, device="mps")},
    ],
    ids=["name-200-chars", "unicode", "padded", "upper-bounds", "lower-bounds"],
)
def test_values_at_the_limits_are_accepted(client, settings, fields):
    fields = dict(fields)  # the parameter is shared by the SQLite and Postgres runs of this test
    spec = fields.pop("spec", None)
    run = create_run(client, spec=spec, **fields)
    for key, value in fields.items():
        assert run[key] == value
    for key, value in (spec or {}).items():
        if key in ("learning_rate", "epochs", "batch_size", "seed", "device"):
            assert run["spec"][key] == (float(value) if key == "learning_rate" else value)
    assert queued_messages(settings, run["queue"]) == 1  # a cuda run: on its queue's .gpu twin
