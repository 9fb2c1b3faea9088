"""VGG-11 (Simonyan & Zisserman 2015, configuration "A"), sized for 32x32 inputs.

The convolutional part is built from the configuration list exactly as torchvision's
`models/vgg.py` builds it (`make_layers(cfg)`: an int is a 3x3 convolution with that many
channels, "M" a 2x2 max-pool). Differences from the ImageNet model, for CIFAR-sized inputs:
five poolings take a 32x32 input to 1x1x512, so the classifier is
Linear(512, 512) -> activation -> dropout -> Linear(512, num_classes) instead of the 4096-wide
layers after a 7x7 pool. Other input sizes are average-pooled to 1x1 first; the pools round up
(`ceil_mode`) so that inputs smaller than 32x32 (e.g. 28x28 digits) still reach 1x1 instead of 0x0.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from worker.zoo.common import (
    GlobalAveragePool,
    DEFAULT_NUM_GROUPS,
    Activation,
    Dropout,
    Norm,
    NumGroups,
    activation_layer,
    check_input_shape,
    conv_norm_act,
)
from trainboard.plugins import ModelOptions, register_model

# torchvision's cfgs["A"]: the VGG-11 configuration.
VGG11_CONFIG: list[int | str] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
CLASSIFIER_WIDTH = 512


class Vgg11Options(ModelOptions):
    name: Literal["vgg11"] = "vgg11"
    norm: Norm = "batch"
    num_groups: NumGroups = DEFAULT_NUM_GROUPS
    activation: Activation = "relu"
    dropout: Dropout = Field(default=0.5, description="Dropout after the hidden classifier layer (0 disables it)")
    width_multiplier: float = Field(
        default=1.0,
        ge=0.125,
        le=2.0,
        description="Scales every layer's channels (and the hidden classifier layer): 0.5 halves the widths",
    )


def scaled(width: int, multiplier: float) -> int:
    return max(1, round(width * multiplier))


def make_layers(config: list[int | str], in_channels: int, options: Vgg11Options) -> nn.Sequential:
    """torchvision's `make_layers`, with a choice of norm and activation and scaled widths."""
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
        else:
            width = scaled(int(item), options.width_multiplier)
            layers += conv_norm_act(
                channels, width, norm=options.norm, num_groups=options.num_groups, activation=options.activation
            )
            channels = width
    return nn.Sequential(*layers)


class Vgg(nn.Module):
    def __init__(self, options: Vgg11Options, config: list[int | str], in_channels: int, num_classes: int):
        super().__init__()
        self.features = make_layers(config, in_channels, options)
        out_channels = scaled(int([v for v in config if v != "M"][-1]), options.width_multiplier)
        hidden = scaled(CLASSIFIER_WIDTH, options.width_multiplier)
        # A no-op for 32x32 inputs (already 1x1); makes the head independent of the input size.
        self.pool = GlobalAveragePool()
        self.classifier = nn.Sequential(
            nn.Linear(out_channels, hidden),
            activation_layer(options.activation),
            nn.Dropout(options.dropout) if options.dropout else nn.Identity(),
            nn.Linear(hidden, num_classes),
        )
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def _init_weights(model: nn.Module) -> None:
    """torchvision's VGG initialisation (He-normal convolutions, N(0, 0.01) linear layers)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)


@register_model(
    options=Vgg11Options,
    task="classification",
    description="VGG-11 for 32x32 images (configuration A, 512-wide classifier), BatchNorm by default",
)
def build_vgg11(options: Vgg11Options, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    channels, _, _ = check_input_shape("vgg11", input_shape)
    return Vgg(options, VGG11_CONFIG, channels, num_classes)
