"""The convolutional model zoo: every family with every option value builds, runs forward and
backward, learns a tiny batch, counts parameters and MACs like torchvision, and validates
through `EngineSpec`. Small widths and inputs keep the file fast on a CPU."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import worker.datasets  # noqa: F401  (registers the datasets the EngineSpec tests name)
from worker.engine.model_stats import model_size
from worker.engine.spec import EngineSpec
from worker.zoo import MODELS, get_model
from worker.zoo.common import activation_layer, group_count, norm_layer
from worker.zoo.resnet import BasicBlock

NORMS = ["none", "batch", "group"]
ACTIVATIONS = ["relu", "elu", "sigmoid", "tanh", "leaky_relu", "gelu"]
CLASSIFIERS = ["convnet", "vgg11", "resnet", "traffic_sign_cnn"]

# Per family: small options and a small input, so one forward/backward takes milliseconds.
SMALL: dict[str, tuple[dict[str, Any], tuple[int, int, int], int]] = {
    "convnet": ({"widths": [4, 8], "num_groups": 4}, (3, 16, 16), 5),
    "vgg11": ({"width_multiplier": 0.125, "num_groups": 4}, (3, 32, 32), 5),
    "resnet": ({"base_width": 8, "num_groups": 4}, (3, 16, 16), 5),
    "traffic_sign_cnn": ({"widths": [4, 8, 8]}, (3, 32, 32), 43),
    "unet": ({"num_layers": 3, "features_start": 4, "num_groups": 2}, (1, 16, 16), 2),
}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    """Each option's each choice at least once per family (norm x activation in full where cheap)."""
    cases: list[tuple[str, dict[str, Any]]] = []
    for norm in NORMS:
        for activation in ACTIVATIONS:
            cases.append(("convnet", {"norm": norm, "activation": activation}))
            cases.append(("vgg11", {"norm": norm, "activation": activation}))
    cases += [("convnet", {"dropout": 0.3, "widths": [6]}), ("vgg11", {"dropout": 0.0, "width_multiplier": 0.2})]
    cases += [("convnet", {"head": "flatten"}), ("convnet", {"head": "flatten", "hidden": 16, "dropout": 0.3})]
    cases += [("convnet", {"hidden": 16})]
    for depth in (18, 34):
        for norm in NORMS:
            for zero_init in (False, True):
                cases.append(("resnet", {"depth": depth, "norm": norm, "zero_init_residual": zero_init}))
    cases += [("resnet", {"activation": activation}) for activation in ACTIVATIONS]
    cases += [("resnet", {"stem": stem}) for stem in ("cifar", "imagenet")]
    for batch_norm in (False, True):
        for activation in ACTIVATIONS:
            cases.append(("traffic_sign_cnn", {"batch_norm": batch_norm, "activation": activation}))
    cases.append(("traffic_sign_cnn", {"dropout": 0.5, "widths": [8, 16]}))
    for upsampling in ("transposed", "nearest", "bilinear"):
        for norm in NORMS:
            cases.append(("unet", {"upsampling": upsampling, "norm": norm}))
    cases += [("unet", {"activation": activation}) for activation in ACTIVATIONS]
    cases += [("unet", {"num_layers": 2, "dropout": 0.5}), ("unet", {"num_layers": 4, "upsampling": "bilinear"})]
    return cases


def build_small(name: str, **overrides: Any) -> tuple[nn.Module, tuple[int, int, int], int]:
    options, shape, num_classes = SMALL[name]
    return get_model(name, shape, num_classes, **{**options, **overrides}), shape, num_classes


def targets_for(name: str, x: torch.Tensor, num_classes: int) -> torch.Tensor:
    if MODELS[name].task == "segmentation":
        return (x[:, 0] > 0).long()  # a learnable mask: is the pixel bright?
    return torch.arange(x.shape[0]) % num_classes


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # These models are tiny: with several threads torch spends far more time synchronising
    # them than computing (20x slower on a busy 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_every_family_is_registered_with_its_task():
    for name in CLASSIFIERS:
        assert MODELS[name].task == "classification" and MODELS[name].framework == "torch"
    assert MODELS["unet"].task == "segmentation"


@pytest.mark.parametrize(("name", "options"), _cases(), ids=lambda v: v if isinstance(v, str) else repr(v))
def test_forward_backward_shapes_and_gradients(name, options):
    model, shape, num_classes = build_small(name, **options)
    model.train()
    x = torch.randn(2, *shape)
    out = model(x)
    if MODELS[name].task == "segmentation":
        assert out.shape == (2, num_classes, shape[1], shape[2])
    else:
        assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, targets_for(name, x, num_classes)).backward()

    # With zero_init_residual the last layer of each residual branch starts at zero, so the
    # layers before it in the branch get no gradient on the first step (by design).
    silent = re.compile(r"\.(conv1|norm1)\." + (r"|\.conv2\." if options.get("norm", "batch") != "none" else ""))
    if options.get("zero_init_residual"):
        for block in [m for m in model.modules() if isinstance(m, BasicBlock)]:
            last = block.norm2 if options.get("norm", "batch") != "none" else block.conv2
            assert not last.weight.any()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        if options.get("zero_init_residual") and silent.search(param_name):
            continue
        assert param.grad.abs().sum() > 0, f"{param_name} got no gradient"


# Somewhat wider than SMALL where the smallest nets learn too slowly at lr 1e-3 to show it in 30 steps.
WIDER_FOR_TRAINING = {"convnet": {"widths": [32, 64]}, "unet": {"features_start": 16}}


@pytest.mark.parametrize("name", [*CLASSIFIERS, "unet"])
def test_a_few_adam_steps_lower_the_loss_on_a_fixed_batch(name):
    model, shape, num_classes = build_small(name, **WIDER_FOR_TRAINING.get(name, {}))
    x = torch.randn(8, *shape)
    y = targets_for(name, x, num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


# --- parameter and MAC counting ---------------------------------------------------------------


def count(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """What `model_stats.model_size` does: parameters, and FLOPs / 2 of one sample on the meta device."""
    params = sum(p.numel() for p in model.parameters())
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty((1, *shape), device="meta"))
    return params, counter.get_total_flops() // 2


def test_counting_reproduces_torchvisions_resnet18_and_our_resnet18_matches_it():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        reference = torchvision.models.resnet18(weights=None, num_classes=1000)
        ours = get_model("resnet", (3, 224, 224), 1000, depth=18, norm="batch")
    ref_params, ref_macs = count(reference, (3, 224, 224))
    assert ref_params == 11_689_512
    assert ref_macs == pytest.approx(1.814e9, rel=0.005)  # torchvision's "1.81 GFLOPS" are MACs
    assert count(ours, (3, 224, 224)) == (ref_params, ref_macs)
    assert not ours.cifar_stem


def test_resnet_uses_the_cifar_stem_up_to_64_pixels():
    with torch.device("meta"):
        assert get_model("resnet", (3, 64, 64), 10).cifar_stem
        assert not get_model("resnet", (3, 96, 96), 10).cifar_stem
        assert get_model("resnet", (3, 32, 32), 10, stem="auto").cifar_stem


def stem_layers(model: nn.Module) -> list[tuple]:
    return [
        (type(m).__name__, getattr(m, "kernel_size", None), getattr(m, "stride", None))
        for m in model.stem
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d))
    ]


def test_resnet_stem_option_overrides_the_input_size_rule():
    with torch.device("meta"):
        auto_small = get_model("resnet", (3, 32, 32), 10)
        imagenet_small = get_model("resnet", (3, 32, 32), 10, stem="imagenet")
        cifar_large = get_model("resnet", (3, 224, 224), 10, stem="cifar")
    assert stem_layers(auto_small) == [("Conv2d", (3, 3), (1, 1))]
    assert stem_layers(imagenet_small) == [("Conv2d", (7, 7), (2, 2)), ("MaxPool2d", 3, 2)]
    assert stem_layers(cifar_large) == stem_layers(auto_small)
    # The same blocks see a 4x smaller image on each side: about 1/16 of the MACs.
    auto_params, auto_macs = count(auto_small, (3, 32, 32))
    imagenet_params, imagenet_macs = count(imagenet_small, (3, 32, 32))
    assert imagenet_params == pytest.approx(auto_params, rel=0.01)
    assert 1 / 17 < imagenet_macs / auto_macs < 1 / 14


def linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def test_convnet_flatten_head_feeds_every_feature_to_the_hidden_layer():
    with torch.device("meta"):
        pooled = get_model("convnet", (3, 32, 32), 10, widths=[8, 16])
        flat = get_model("convnet", (3, 32, 32), 10, widths=[8, 16], head="flatten", hidden=64)
        flat_48 = get_model("convnet", (3, 48, 48), 10, widths=[8, 16], head="flatten")
    assert linear_shapes(pooled) == [(16, 10)]
    assert linear_shapes(flat) == [(16 * 8 * 8, 64), (64, 10)]
    assert linear_shapes(flat_48) == [(16 * 12 * 12, 10)]
    x = torch.randn(2, 3, 32, 32)
    assert get_model("convnet", (3, 32, 32), 10, widths=[8, 16], head="flatten", hidden=64)(x).shape == (2, 10)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_model_size_of_each_classifier_on_synthetic_cifar10(name):
    spec = EngineSpec.model_validate(
        {"model": name, "dataset": "synthetic_cifar10", "learning_rate": 0.1, "epochs": 1, "batch_size": 8}
    )
    params, macs = model_size(spec)
    assert params > 0 and macs > 0
    assert params == sum(p.numel() for p in get_model(name, (3, 32, 32), 10).parameters())


# --- options and validation -------------------------------------------------------------------

VALID_OPTIONS = {
    "convnet": {"norm": "group", "num_groups": 8},
    "vgg11": {"norm": "group", "width_multiplier": 0.5, "activation": "gelu"},
    "resnet": {"depth": 34, "base_width": 16, "zero_init_residual": True},
    "traffic_sign_cnn": {"batch_norm": True, "dropout": 0.5, "activation": "relu"},
}
INVALID_VALUES = {
    "convnet": {"norm": "layer"},
    "vgg11": {"width_multiplier": 4.0},
    "resnet": {"depth": 50},
    "traffic_sign_cnn": {"dropout": 1.0},
}


def spec_with(model: dict[str, Any]) -> EngineSpec:
    return EngineSpec.model_validate(
        {"model": model, "dataset": "synthetic_cifar10", "learning_rate": 0.1, "epochs": 1, "batch_size": 8}
    )


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_trainspec_accepts_options_and_refuses_unknown_or_out_of_range_ones(name):
    spec = spec_with({"name": name, **VALID_OPTIONS[name]})
    assert spec.model.name == name
    for key, value in VALID_OPTIONS[name].items():
        assert getattr(spec.model, key) == value

    with pytest.raises(ValidationError) as unknown:
        spec_with({"name": name, "upsampling": "nearest"})
    assert any("upsampling" in error["loc"] for error in unknown.value.errors())

    with pytest.raises(ValidationError) as invalid:
        spec_with({"name": name, **INVALID_VALUES[name]})
    (key,) = INVALID_VALUES[name]
    assert any(key in error["loc"] for error in invalid.value.errors())


def test_unet_through_the_registry():
    model = MODELS["unet"].build(MODELS["unet"].options(), (1, 64, 64), 2)
    with torch.device("meta"):
        params, macs = count(MODELS["unet"].build(MODELS["unet"].options(), (1, 64, 64), 2), (1, 64, 64))
    assert params == sum(p.numel() for p in model.parameters()) and macs > 0
    small = get_model("unet", (1, 64, 64), 2, num_layers=3, features_start=4)
    assert small(torch.randn(1, 1, 64, 64)).shape == (1, 2, 64, 64)

    with pytest.raises(ValueError, match="divisible by 16"):
        get_model("unet", (1, 60, 64), 2)  # default num_layers=5 halves 4 times
    with pytest.raises(ValidationError):
        get_model("unet", (1, 64, 64), 2, upsampling="cubic")
    with pytest.raises(ValidationError) as unknown:
        get_model("unet", (1, 64, 64), 2, depth=18)
    assert any("depth" in error["loc"] for error in unknown.value.errors())
    with pytest.raises(ValidationError):
        get_model("unet", (1, 64, 64), 2, num_layers=7)


# --- family specifics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "shape"), [([32, 64, 128], (3, 32, 32)), ([8, 16], (3, 48, 48)), ([8], (1, 28, 28))]
)
def test_traffic_sign_cnn_last_layer_takes_512_features(widths, shape):
    with torch.device("meta"):
        model = get_model("traffic_sign_cnn", shape, 43, widths=widths)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears[-1].in_features == 512 and linears[-1].out_features == 43


def test_traffic_sign_cnn_puts_batch_norm_before_the_elu():
    model = get_model("traffic_sign_cnn", (3, 32, 32), 43, batch_norm=True)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds[:7] == ["Conv2d", "BatchNorm2d", "ELU", "Conv2d", "BatchNorm2d", "ELU", "MaxPool2d"]
    plain = [type(m).__name__ for m in get_model("traffic_sign_cnn", (3, 32, 32), 43).features]
    assert plain[:5] == ["Conv2d", "Identity", "ELU", "Conv2d", "Identity"]


def test_vgg11_follows_the_configuration_list():
    model = get_model("vgg11", (3, 32, 32), 10)
    convs = [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)]
    pools = sum(isinstance(m, nn.MaxPool2d) for m in model.features)
    assert convs == [64, 128, 256, 256, 512, 512, 512, 512] and pools == 5
    assert [(m.in_features, m.out_features) for m in model.classifier if isinstance(m, nn.Linear)] == [
        (512, 512),
        (512, 10),
    ]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifiers_take_other_channel_counts_and_sizes(name):
    options, _, _ = SMALL[name]
    model = get_model(name, (1, 28, 28), 10, **options)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_too_small_inputs_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least 8x8"):
        get_model("convnet", (3, 4, 4), 10)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        get_model("resnet", (784,), 10)


def test_common_helpers():
    assert [group_count(c, 32) for c in (64, 48, 24, 7, 512)] == [32, 24, 24, 7, 32]
    assert group_count(64, 48) == 32 and group_count(10, 1) == 1
    assert isinstance(norm_layer("none", 8, 4), nn.Identity)
    assert isinstance(norm_layer("batch", 8, 4), nn.BatchNorm2d)
    group = norm_layer("group", 48, 32)
    assert isinstance(group, nn.GroupNorm) and group.num_groups == 24
    for kind in ACTIVATIONS:
        assert activation_layer(kind)(torch.zeros(1)).shape == (1,)
    with pytest.raises(ValueError):
        activation_layer("swish")
