"""Plain CNN for small colour images (CIFAR-10 sized), with a choice of normalisation.

Stages of two 3x3 convolutions (conv -> norm -> activation, twice) followed by a 2x2 max-pool;
the default widths [32, 64, 128] give the common "conv-conv-pool x3" CIFAR-10 baseline. After
the last stage a global average pool and a linear layer give the class logits. This is the
network the "no norm vs BatchNorm vs GroupNorm" study varies, so `norm` is an option.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from worker.zoo.common import (
    DEFAULT_NUM_GROUPS,
    Activation,
    Dropout,
    Norm,
    NumGroups,
    check_input_shape,
    conv_norm_act,
)
from trainboard.plugins import ModelOptions, register_model


class ConvNetOptions(ModelOptions):
    name: Literal["convnet"] = "convnet"
    widths: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default=[32, 64, 128],
        min_length=1,
        max_length=6,
        description="Channels of each stage (two 3x3 convolutions, then a 2x2 max-pool)",
    )
    norm: Norm = "none"
    num_groups: NumGroups = DEFAULT_NUM_GROUPS
    activation: Activation = "relu"
    dropout: Dropout = Field(default=0.0, description="Dropout before the final linear layer (0 disables it)")


class ConvNet(nn.Module):
    def __init__(self, options: ConvNetOptions, in_channels: int, num_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in options.widths:
            for _ in range(2):
                layers += conv_norm_act(
                    channels,
                    width,
                    norm=options.norm,
                    num_groups=options.num_groups,
                    activation=options.activation,
                )
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        # Global average pooling keeps the head the same size for any input resolution.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(options.dropout) if options.dropout else nn.Identity()
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(x))


@register_model(
    options=ConvNetOptions,
    task="classification",
    description="Plain CNN (conv-conv-pool stages, global average pool, linear) with optional BatchNorm or GroupNorm",
)
def build_convnet(options: ConvNetOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    # Each stage halves the resolution, so the input must survive len(widths) poolings.
    channels, _, _ = check_input_shape("convnet", input_shape, min_size=2 ** len(options.widths))
    return ConvNet(options, channels, num_classes)
