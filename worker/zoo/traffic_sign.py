"""CNN for 32x32 traffic-sign crops (GTSRB, 43 classes), for the ELU / BatchNorm / dropout study.

A plain network: stages of two 3x3 convolutions and a 2x2 max-pool (widths 32, 64, 128 by
default), each convolution followed by the nonlinearity (ELU by default, Clevert et al. 2016),
with optional BatchNorm placed *before* the nonlinearity as Ioffe & Szegedy (2015) propose
(conv -> BN -> ELU). The feature maps are flattened (128 x 4 x 4 = 2048 for a 32x32 input) into a
512-unit hidden layer, then dropout (optional) and the final linear layer, which therefore always
takes 512 input features.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from worker.zoo.common import Activation, Dropout, activation_layer, check_input_shape, conv_norm_act
from trainboard.model_budget import LAYER_WIDTHS
from trainboard.plugins import ModelOptions, register_model

HIDDEN_FEATURES = 512  # input features of the last linear layer, fixed by the study


class TrafficSignCnnOptions(ModelOptions):
    name: Literal["traffic_sign_cnn"] = "traffic_sign_cnn"
    batch_norm: bool = Field(default=False, description="BatchNorm after every convolution, before the nonlinearity")
    dropout: Dropout = Field(default=0.0, description="Dropout after the 512-unit hidden layer (0 disables it)")
    activation: Activation = "elu"
    widths: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default=[32, 64, 128],
        min_length=1,
        max_length=5,
        description="Channels of each stage (two 3x3 convolutions, then a 2x2 max-pool)",
        json_schema_extra=LAYER_WIDTHS,
    )


class TrafficSignCnn(nn.Module):
    def __init__(self, options: TrafficSignCnnOptions, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, height, width = input_shape
        norm = "batch" if options.batch_norm else "none"
        layers: list[nn.Module] = []
        for stage_width in options.widths:
            for _ in range(2):
                layers += conv_norm_act(channels, stage_width, norm=norm, num_groups=1, activation=options.activation)
                channels = stage_width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        pools = len(options.widths)
        flat = channels * (height >> pools) * (width >> pools)
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, HIDDEN_FEATURES),
            activation_layer(options.activation),
            nn.Dropout(options.dropout) if options.dropout else nn.Identity(),
        )
        self.classifier = nn.Linear(HIDDEN_FEATURES, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.features(x)))


@register_model(
    options=TrafficSignCnnOptions,
    task="classification",
    description="CNN for 32x32 traffic signs (GTSRB): ELU by default, optional BatchNorm before the "
    "nonlinearity and dropout; 512-unit hidden layer",
)
def build_traffic_sign_cnn(options: TrafficSignCnnOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    shape = check_input_shape("traffic_sign_cnn", input_shape, min_size=2 ** len(options.widths))
    return TrafficSignCnn(options, shape, num_classes)
