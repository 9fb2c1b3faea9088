"""Building blocks shared by the convolutional model families.

The option types here (`Norm`, `NumGroups`, `Dropout`, `Activation`) are annotated so that every
family declares these options with the same choices, bounds and descriptions, and so the
catalog shows them the same way. Defaults are set by each family (pydantic does not take a
default inside `Annotated`), e.g. `norm: Norm = "batch"`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

NormKind = Literal["none", "batch", "group"]
ActivationKind = Literal["relu", "elu", "sigmoid", "tanh", "leaky_relu", "gelu"]

Norm = Annotated[
    NormKind,
    Field(description="Normalisation after each convolution: none, batch (BatchNorm) or group (GroupNorm)"),
]
NumGroups = Annotated[
    int,
    Field(
        ge=1,
        le=512,
        description="GroupNorm groups (norm=group only); a layer with C channels uses the largest "
        "divisor of C that is <= this",
    ),
]
DEFAULT_NUM_GROUPS = 32  # Wu & He (2018), "Group Normalization": G = 32 works well across widths
Dropout = Annotated[float, Field(ge=0.0, lt=1.0, description="Dropout probability (0 disables it)")]
Activation = Annotated[ActivationKind, Field(description="Nonlinearity after each convolution / hidden layer")]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


def activation_layer(kind: str) -> nn.Module:
    """A fresh activation module (not in-place, so it is safe after any layer)."""
    try:
        return _ACTIVATIONS[kind]()
    except KeyError:
        raise ValueError(f"unknown activation {kind!r}; known: {sorted(_ACTIVATIONS)}") from None


def group_count(channels: int, num_groups: int) -> int:
    """The largest divisor of `channels` that is <= `num_groups`.

    GroupNorm needs the group count to divide the channel count; taking the largest divisor
    keeps one `num_groups` option usable for every layer width (64 channels with 48 groups ->
    32 groups, 24 channels with 32 groups -> 24, i.e. one channel per group).
    """
    if channels < 1 or num_groups < 1:
        raise ValueError("channels and num_groups must be positive")
    for groups in range(min(num_groups, channels), 0, -1):
        if channels % groups == 0:
            return groups
    return 1  # unreachable: 1 divides everything


def norm_layer(kind: str, channels: int, num_groups: int = DEFAULT_NUM_GROUPS) -> nn.Module:
    """Normalisation over `channels` feature maps: Identity, BatchNorm2d or GroupNorm."""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(group_count(channels, num_groups), channels)
    raise ValueError(f"unknown norm {kind!r}; known: none, batch, group")


def conv_bias(norm: str) -> bool:
    """Whether a convolution followed by `norm` needs its own bias: not when a norm layer follows,
    since the norm's learned shift does the same job (and BatchNorm's mean subtraction cancels it)."""
    return norm == "none"


def conv_norm_act(
    in_channels: int,
    out_channels: int,
    *,
    norm: str,
    num_groups: int,
    activation: str,
    kernel_size: int = 3,
    stride: int = 1,
) -> list[nn.Module]:
    """conv (same padding) -> norm -> activation, as a list to splice into an `nn.Sequential`.

    The norm sits before the nonlinearity, as in Ioffe & Szegedy (2015)."""
    return [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=conv_bias(norm),
        ),
        norm_layer(norm, out_channels, num_groups),
        activation_layer(activation),
    ]


def check_input_shape(model: str, input_shape: tuple[int, ...], min_size: int = 1) -> tuple[int, int, int]:
    """(C, H, W) of an image input, or a ValueError naming the model and what it needs."""
    if len(input_shape) != 3:
        raise ValueError(f"{model} needs image inputs of shape (C, H, W), got {tuple(input_shape)}")
    channels, height, width = (int(v) for v in input_shape)
    if channels < 1 or height < min_size or width < min_size:
        raise ValueError(
            f"{model} needs at least 1 channel and inputs of at least {min_size}x{min_size} pixels "
            f"with these options, got {tuple(input_shape)}"
        )
    return channels, height, width


class GlobalAveragePool(nn.Module):
    """The mean over height and width, as (N, C, 1, 1): `nn.AdaptiveAvgPool2d(1)` without its CUDA
    backward, which PyTorch refuses to run under `deterministic` (torch.use_deterministic_algorithms);
    a mean is deterministic on every device. No parameters, and no MACs counted (as for the pool)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)
