"""The study presets (`trainboard.presets`, `GET /presets`): each is a study the API accepts as it
is, every one of its runs is a spec the worker's own options classes accept, each follows its
course sheet (seeds, epochs, determinism, the reference models), and the architecture study's
three models have the parameters and MACs in the order sheet 003 found. The README lists them all
with their models' sizes as the code counts them now."""

from __future__ import annotations

from pathlib import Path

import pytest

import worker.datasets  # noqa: F401  (registers)
import worker.zoo  # noqa: F401  (registers)
from backend.schemas.study import StudyCreate
from bench.preset_sizes import preset_sizes_table
from tests.utils.factories import API
from trainboard.presets import PRESETS
from worker.engine.model_stats import model_size
from worker.engine.spec import EngineSpec

BY_NAME = {preset.name: preset for preset in PRESETS}
README = Path(__file__).resolve().parents[1] / "README.md"


def test_get_presets_serves_every_preset_as_a_study_definition(client):
    answer = client.get(f"{API}/presets")
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == len(PRESETS) == 5
    assert [p["name"] for p in body["data"]] == list(BY_NAME)
    for served in body["data"]:
        preset = BY_NAME[served["name"]]
        assert served["base_spec"] == preset.base_spec and served["grid"] == preset.grid
        assert served["seeds"] == preset.seeds and served["title"] and served["text"]
    assert "/api/v1/presets" in client.get(f"{API}/openapi.json").json()["paths"]


@pytest.mark.parametrize("name", list(BY_NAME))
def test_each_preset_creates_its_study_and_every_run_is_valid_on_the_worker(client, name):
    preset = BY_NAME[name]
    body = {"name": preset.name, "base_spec": preset.base_spec, "grid": preset.grid, "seeds": preset.seeds}
    StudyCreate.model_validate(body)
    created = client.post(f"{API}/studies", json=body)
    assert created.status_code == 201, created.text
    runs = client.get(f"{API}/runs", params={"study_id": created.json()["id"], "limit": 500}).json()
    assert runs["count"] == preset.cells * preset.seeds
    for run in runs["data"]:
        spec = EngineSpec.model_validate(run["spec"])
        assert spec.deterministic


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_each_preset_repeats_every_cell_and_the_form_can_show_its_grid(preset):
    assert preset.seeds >= 3
    assert preset.base_spec["deterministic"] is True
    for path in ("model", "dataset", "optimizer", "scheduler"):
        # The form ticks one entry per name: a grid over entries must not name one twice.
        names = [value if isinstance(value, str) else value["name"] for value in preset.grid.get(path, [])]
        assert len(names) == len(set(names)), path
    if "model" in preset.grid:  # the base spec's model is the grid's first
        assert preset.base_spec["model"] == preset.grid["model"][0]


def test_presets_follow_their_sheets():
    mnist = BY_NAME["mnist-mlp-lr-sweep"]
    rates = mnist.grid["learning_rate"]
    assert len(rates) >= 5 and max(rates) == 1.0 and min(rates) == 0.001 and mnist.base_spec["epochs"] == 30
    assert BY_NAME["cifar10-norm"].grid == {"model.norm": ["none", "batch", "group"]}
    assert BY_NAME["cifar10-norm"].base_spec["model"]["num_groups"] == 32
    assert BY_NAME["cifar10-architectures"].base_spec["epochs"] == 50
    gtsrb = BY_NAME["gtsrb-bn-optimizer"]
    assert gtsrb.base_spec["epochs"] >= 400 and gtsrb.base_spec["model"]["activation"] == "elu"
    assert gtsrb.grid["model.batch_norm"] == [False, True]
    # Each optimizer has a cell at its own rate: Adam at 1e-3, SGD with momentum at 1e-2.
    assert {1e-3, 1e-2} <= set(gtsrb.grid["learning_rate"])
    unet = BY_NAME["lung-unet-ablation"]
    assert unet.base_spec["model"]["norm"] == "batch"  # the reference U-Net: Conv -> BatchNorm -> ReLU
    assert unet.grid == {"model.upsampling": ["transposed", "nearest"], "model.activation": ["relu", "elu"]}
    assert "selection_metric" not in unet.base_spec  # chosen by val_dice, the default


def architecture_sizes() -> dict[str, tuple[int, int]]:
    preset = BY_NAME["cifar10-architectures"]
    sizes = {}
    for model in preset.grid["model"]:
        spec = EngineSpec.model_validate({**preset.base_spec, "model": model})
        sizes[model["name"]] = model_size(spec)
    return sizes


def test_the_architecture_study_has_sheet_003s_parameters_and_macs():
    sizes = architecture_sizes()
    (resnet_params, resnet_macs), (vgg_params, vgg_macs), (convnet_params, convnet_macs) = (
        sizes["resnet"], sizes["vgg11"], sizes["convnet"],
    )  # fmt: skip
    # ResNet and VGG11 have about as many parameters; the ConvNet by far the most.
    assert 1 / 1.5 < resnet_params / vgg_params < 1.5
    assert convnet_params > 3 * max(resnet_params, vgg_params)
    # MACs: ResNet far below VGG11, the ConvNet far above both.
    assert resnet_macs < vgg_macs / 2 and convnet_macs > 2 * vgg_macs


def test_the_readme_lists_every_preset_with_its_models_sizes_as_counted_now():
    readme = README.read_text()
    table = readme.split("<!-- preset-sizes:start -->\n")[1].split("\n<!-- preset-sizes:end -->")[0]
    assert table == preset_sizes_table(), "README out of date: paste `python -m bench.preset_sizes`"
    for preset in PRESETS:
        assert f"| `{preset.name}` | sheet" in readme, preset.name
