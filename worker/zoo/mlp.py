"""Multi-layer perceptron (torch): flattens the input, hidden layers with a chosen activation."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from trainboard.model_budget import LAYER_WIDTHS
from trainboard.plugins import ModelOptions, register_model

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh}


class MlpOptions(ModelOptions):
    name: Literal["mlp"] = "mlp"
    hidden_sizes: list[Annotated[int, Field(ge=1, le=65536)]] = Field(
        default=[128, 64],
        min_length=1,
        max_length=16,
        description="Width of each hidden layer",
        json_schema_extra=LAYER_WIDTHS,
    )
    activation: Literal["sigmoid", "relu", "elu", "tanh"] = Field(default="sigmoid")
    weight_init: Literal["default", "xavier", "normal"] = Field(
        default="xavier", description="default: torch's; xavier: Glorot uniform; normal: N(0, 1/fan_in)"
    )
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class Mlp(nn.Module):
    def __init__(self, options: MlpOptions, in_features: int, num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in options.hidden_sizes:
            layers.append(nn.Linear(width, size))
            layers.append(ACTIVATIONS[options.activation]())
            if options.dropout:
                layers.append(nn.Dropout(options.dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _init_linear(module, options.weight_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _init_linear(layer: nn.Linear, scheme: str) -> None:
    if scheme == "xavier":
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    elif scheme == "normal":
        nn.init.normal_(layer.weight, std=1.0 / math.sqrt(layer.in_features))
        nn.init.zeros_(layer.bias)


@register_model(options=MlpOptions, task="classification", description="Multi-layer perceptron (PyTorch)")
def build_mlp(options: MlpOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return Mlp(options, math.prod(input_shape), num_classes)
