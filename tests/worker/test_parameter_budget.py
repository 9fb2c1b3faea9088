"""The parameter budget on the worker's side: the API's floor from the options never exceeds a
model's real size (so the API never refuses a model within the budget), and a model the options do
not prove too large is refused by the worker from its exact size, before any data or weight."""

from __future__ import annotations

import httpx
import pytest

from backend.main import create_app
from tests.utils.live_server import serve
from trainboard.catalog import check_spec
from trainboard.model_budget import parameter_floor
from trainboard.plugins import MODELS
from worker.catalog import worker_catalog
from worker.engine.model_stats import model_size
from worker.engine.spec import EngineSpec

WIDTHS = [[1, 1], [7, 300, 2], [64, 64, 64], [3, 1024], [128, 64, 32, 16, 8]]
CASES = [
    ("mlp", "synthetic_mnist", "hidden_sizes", WIDTHS),
    ("mlp_numpy", "synthetic_mnist", "hidden_sizes", WIDTHS),
    ("convnet", "synthetic_cifar10", "widths", [w for w in WIDTHS if len(w) <= 3 and max(w) <= 1024]),
    ("traffic_sign_cnn", "synthetic_cifar10", "widths", [w for w in WIDTHS if len(w) <= 3 and max(w) <= 1024]),
]


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trainboard.db'}"


@pytest.mark.parametrize("model, dataset, option, widths", CASES)
def test_the_floor_from_the_options_is_never_above_the_models_size(model, dataset, option, widths):
    catalog = worker_catalog("test@host")
    models = {m.name: m for m in catalog.models}
    datasets = {d.name: d for d in catalog.datasets}
    assert models[model].options_schema["properties"][option]["x-layer-widths"] is True  # published
    for value in widths:
        raw = {"model": {"name": model, option: value}, "dataset": dataset, "learning_rate": 0.1, "epochs": 1,
               "batch_size": 8}
        checked = check_spec(raw, models, datasets)
        floor, named = parameter_floor(checked.model.model_dump(), models[model].options_schema)
        params, _ = model_size(EngineSpec.model_validate(checked.model_dump(mode="json")))
        assert named == [option] and 0 < floor <= params, (value, floor, params)


def test_every_option_marked_as_widths_is_a_list_of_ints():
    for entry in MODELS.values():
        for name, prop in entry.options.model_json_schema()["properties"].items():
            if prop.get("x-layer-widths"):
                assert prop["type"] == "array" and prop["items"]["type"] == "integer", (entry.name, name)


@pytest.mark.timeout(90)
def test_a_model_over_the_budget_fails_its_run_before_any_data_is_loaded(migrated, monkeypatch, tmp_path):
    """One hidden layer says nothing of the size (784 x 100 weights come from the input): the API
    takes it, the worker sizes it at 79,510 parameters, over a budget of 50,000, and fails the run
    with the reason, never calling the engine."""
    import worker.engine.loop
    import worker.tasks
    from trainboard.settings import Settings

    settings = migrated.model_copy(update={"max_model_parameters": 50_000})
    with serve(create_app(settings)) as api_url:
        spec = {"model": {"name": "mlp", "hidden_sizes": [100]}, "dataset": "synthetic_mnist",
                "learning_rate": 0.1, "epochs": 3, "batch_size": 32}  # fmt: skip
        response = httpx.post(f"{api_url}/api/v1/runs", json={"spec": spec}, timeout=30)
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]

        # The worker's own settings say nothing of a budget: the API's comes with the claim.
        monkeypatch.setattr(worker.tasks, "get_settings", lambda: Settings(api_url=api_url, data_dir=tmp_path))
        trained = []
        monkeypatch.setattr(worker.engine.loop, "train", lambda *args, **kwargs: trained.append(args))
        assert worker.tasks.train_run(run_id) == "failed"
        run = httpx.get(f"{api_url}/api/v1/runs/{run_id}", timeout=10).json()
    assert trained == []
    assert run["status"] == "failed" and run["param_count"] == 79_510
    assert run["error"].startswith("model 'mlp' has 79,510 parameters (hidden_sizes=[100], activation='sigmoid'")
    assert "over this server's budget of 50,000 (TRAINBOARD_MAX_MODEL_PARAMETERS)" in run["error"]
