"""Plain CNN for small colour images (CIFAR-10 sized), with a choice of normalisation.

Stages of two 3x3 convolutions (conv -> norm -> activation, twice) followed by a 2x2 max-pool;
the default widths [32, 64, 128] give the common "conv-conv-pool x3" CIFAR-10 baseline. This is
the network the "no norm vs BatchNorm vs GroupNorm" study varies, so `norm` is an option.

The head after the last stage:
- global_pool (the default): a global average pool, so the head is as small as the last width and
  the same for any input size;
- flatten: every feature of the last stage's maps (width x H/2^stages x W/2^stages) goes into the
  linear layer, as in the classic plain CNNs: with wide stages and a `hidden` layer this is where
  nearly all the parameters are. The ConvNet of the seed-003 architecture study is of this kind:
  by far the most parameters and MACs of the three networks it compares.
`hidden` > 0 adds a hidden linear layer (with the activation) before the classifier, after either
head; dropout sits before the classifier.
"""

from __future__ import annotations

from typing import Annotated, Literal

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
from trainboard.model_budget import LAYER_WIDTHS
from trainboard.plugins import ModelOptions, register_model


class ConvNetOptions(ModelOptions):
    name: Literal["convnet"] = "convnet"
    widths: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default=[32, 64, 128],
        min_length=1,
        max_length=6,
        description="Channels of each stage (two 3x3 convolutions, then a 2x2 max-pool)",
        json_schema_extra=LAYER_WIDTHS,
    )
    norm: Norm = "none"
    num_groups: NumGroups = DEFAULT_NUM_GROUPS
    activation: Activation = "relu"
    dropout: Dropout = Field(default=0.0, description="Dropout before the final linear layer (0 disables it)")
    head: Literal["global_pool", "flatten"] = Field(
        default="global_pool",
        description="global_pool: average each last feature map to one value; flatten: feed every value of "
        "the last feature maps to the linear layer (its size grows with the input)",
    )
    hidden: int = Field(
        default=0, ge=0, le=16_384, description="Units of a hidden linear layer before the classifier (0: none)"
    )


class ConvNet(nn.Module):
    def __init__(self, options: ConvNetOptions, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, height, width = input_shape
        layers: list[nn.Module] = []
        for stage_width in options.widths:
            for _ in range(2):
                layers += conv_norm_act(
                    channels,
                    stage_width,
                    norm=options.norm,
                    num_groups=options.num_groups,
                    activation=options.activation,
                )
                channels = stage_width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        if options.head == "global_pool":
            self.pool: nn.Module = GlobalAveragePool()
            features = channels
        else:
            self.pool = nn.Identity()
            stages = len(options.widths)
            features = channels * (height >> stages) * (width >> stages)
        hidden: list[nn.Module] = []
        if options.hidden:
            hidden = [nn.Linear(features, options.hidden), activation_layer(options.activation)]
            features = options.hidden
        self.hidden = nn.Sequential(*hidden)
        self.dropout = nn.Dropout(options.dropout) if options.dropout else nn.Identity()
        self.classifier = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hidden(self.pool(self.features(x)).flatten(1))
        return self.classifier(self.dropout(x))


@register_model(
    options=ConvNetOptions,
    task="classification",
    description="Plain CNN (conv-conv-pool stages; global average pool or flatten; optional hidden linear layer) "
    "with optional BatchNorm or GroupNorm",
)
def build_convnet(options: ConvNetOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    # Each stage halves the resolution, so the input must survive len(widths) poolings.
    shape = check_input_shape("convnet", input_shape, min_size=2 ** len(options.widths))
    return ConvNet(options, shape, num_classes)
