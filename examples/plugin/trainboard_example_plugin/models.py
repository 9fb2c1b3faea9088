"""`tiny_cnn`: two convolutions and a linear classifier, for any (C, H, W) input."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from trainboard.plugins import ModelOptions, register_model


class TinyCnnOptions(ModelOptions):
    name: Literal["tiny_cnn"] = "tiny_cnn"
    width: int = Field(default=8, ge=1, le=512, description="Channels of the first convolution")
    activation: Literal["relu", "elu"] = Field(default="relu")


@register_model(options=TinyCnnOptions, task="classification", description="Two 3x3 convolutions, pooled, then linear")
def build(options: TinyCnnOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    channels, height, width = input_shape
    if min(height, width) < 4:
        raise ValueError(f"needs inputs of at least 4x4 pixels, not {height}x{width}")
    act = nn.ReLU if options.activation == "relu" else nn.ELU
    return nn.Sequential(
        nn.Conv2d(channels, options.width, 3, padding=1), act(), nn.MaxPool2d(2),
        nn.Conv2d(options.width, 2 * options.width, 3, padding=1), act(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(2 * options.width, num_classes),
    )  # fmt: skip
