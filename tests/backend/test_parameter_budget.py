"""The parameter budget (issue 12, row 10): an MLP of three 65,536-unit layers (8.6e9 parameters,
34 GB of weights) was accepted with a 201. A spec whose options prove its model over the budget is
now a 422 naming the option, and nothing is stored or queued; the budget is the server's setting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.utils.factories import API, queued_messages, run_count, valid_spec

HUGE_MLP = {"name": "mlp", "hidden_sizes": [65536, 65536, 65536]}
FLOOR = 2 * 65536 * 65536  # the weights between the hidden layers, whatever the input
SHOWN = "hidden_sizes=[65536, 65536, 65536],"


@pytest.fixture
def small_budget(migrated) -> Iterator[TestClient]:
    settings = migrated.model_copy(update={"max_model_parameters": 100_000})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


@pytest.mark.parametrize("model", ["mlp", "mlp_numpy"])
def test_the_reproduction_is_a_422_naming_the_option_and_nothing_is_stored(client, settings, model):
    spec = valid_spec(model={**HUGE_MLP, "name": model})
    response = client.post(f"{API}/runs", json={"spec": spec})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "spec", "model", "hidden_sizes"]
    assert error["msg"].startswith(f"model '{model}' has at least {FLOOR:,} parameters ({SHOWN}")
    assert "over this server's budget of 2,000,000,000 (TRAINBOARD_MAX_MODEL_PARAMETERS)" in error["msg"]
    assert run_count(client) == 0 and queued_messages(settings) == 0


def test_the_default_budget_takes_large_but_sane_models(client):
    spec = valid_spec(model={"name": "mlp", "hidden_sizes": [16384, 16384, 16384]})  # 5.4e8
    assert client.post(f"{API}/runs", json={"spec": spec}).status_code == 201


def test_the_budget_is_the_servers_setting(small_budget):
    """100,000 parameters: 128 x 1024 weights between two hidden layers are over, 64 x 64 are not;
    a CNN's channels per stage count the same way."""
    over = valid_spec(model={"name": "mlp", "hidden_sizes": [128, 1024]})
    response = small_budget.post(f"{API}/runs", json={"spec": over})
    assert response.status_code == 422
    assert "at least 131,072 parameters" in response.json()["detail"][0]["msg"]
    cnn = valid_spec(model={"name": "convnet", "widths": [512, 512]}, dataset="synthetic_cifar10")
    response = small_budget.post(f"{API}/runs", json={"spec": cnn})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "spec", "model", "widths"]
    under = valid_spec(model={"name": "mlp", "hidden_sizes": [64, 64]})
    assert small_budget.post(f"{API}/runs", json={"spec": under}).status_code == 201


def test_a_study_cell_over_the_budget_is_a_422_naming_the_cell(client):
    body = {
        "name": "widths",
        "base_spec": valid_spec(),
        "grid": {"model.hidden_sizes": [[128, 64], [65536, 65536]]},
        "seeds": 1,
    }
    response = client.post(f"{API}/studies", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "grid", "model.hidden_sizes", 1]  # the second value of the grid
    assert error["msg"].startswith("model 'mlp' has at least 4,294,967,296 parameters (hidden_sizes=[65536, 65536]")
    assert run_count(client) == 0
