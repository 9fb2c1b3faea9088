"""`deterministic` on a GPU: PyTorch refuses (RuntimeError at the first backward) the layers that
have no deterministic CUDA kernel, so no model of a deterministic preset may hold one, and the
loss must not use the reduced 2-D NLL kernel. CI has no GPU: the layers are checked by type
against PyTorch's list (torch.use_deterministic_algorithms' documentation), the loss by value."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import worker.datasets  # noqa: F401  (registers the datasets the presets name)
from trainboard.presets import PRESETS
from trainboard.spec_paths import set_path
from backend.services.studies import grid_cells
from worker.engine.metrics import deterministic_cross_entropy
from worker.engine.spec import EngineSpec
from worker.zoo import MODELS

# Layers whose backward on CUDA raises under torch.use_deterministic_algorithms(True).
REFUSED_ON_CUDA = (
    nn.AvgPool3d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool2d, nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d, nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d, nn.ReflectionPad1d, nn.ReflectionPad2d,
    nn.ReflectionPad3d, nn.NLLLoss, nn.CTCLoss,
)
REFUSED_UPSAMPLING = {"linear", "bilinear", "bicubic", "trilinear"}


def _cells():
    for preset in PRESETS:
        for cell in grid_cells(preset.grid):
            spec = dict(preset.base_spec)
            for path in sorted(cell, key=lambda p: p.count(".")):
                set_path(spec, path, cell[path])
            yield pytest.param(preset.name, spec, id=f"{preset.name}:{'-'.join(map(str, cell.values()))}"[:90])


@pytest.mark.parametrize(("preset", "spec"), list(_cells()))
def test_no_model_of_a_deterministic_preset_holds_a_layer_cuda_refuses(preset, spec):
    engine_spec = EngineSpec.model_validate(spec)
    assert engine_spec.deterministic, f"{preset} must train deterministically"
    if MODELS[engine_spec.model.name].framework != "torch":
        return  # the NumPy MLP runs on the CPU, where every operation is deterministic
    with torch.device("meta"):
        model = MODELS[engine_spec.model.name].build(engine_spec.model, engine_spec.input_shape,
                                                    engine_spec.num_classes)
    refused = [name for name, module in model.named_modules() if isinstance(module, REFUSED_ON_CUDA)
               or (isinstance(module, nn.Upsample) and module.mode in REFUSED_UPSAMPLING)]
    assert refused == [], f"{preset}: {refused} have no deterministic CUDA backward"


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 5)])  # classes, and per-pixel classes (segmentation)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_deterministic_loss_has_the_values_of_cross_entropy(shape, smoothing):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=generator)
    target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=generator)
    for reduction in ("mean", "sum"):
        expected = F.cross_entropy(logits, target, reduction=reduction, label_smoothing=smoothing)
        found = deterministic_cross_entropy(logits, target, reduction=reduction, label_smoothing=smoothing)
        assert found.item() == pytest.approx(expected.item(), rel=1e-6)
