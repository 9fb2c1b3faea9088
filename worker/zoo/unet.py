"""U-Net for semantic segmentation (Ronneberger, Fischer & Brox 2015).

A contracting path of double 3x3 convolution blocks, each level doubling the channels and
halved in resolution by a 2x2 max-pool, and an expanding path that upsamples (halving the
channels), concatenates the same-level features of the contracting path (the skip
connection) and applies another double convolution. A final 1x1 convolution gives per-pixel
class logits of shape (N, num_classes, H, W).

Differences from the paper: the convolutions are padded (padding=1), so the output has the
input's size and no cropping of the skip connections is needed; normalisation can be added
(conv -> norm -> activation); and the up-sampling can be a learned transposed convolution
(the paper's "up-convolution") or a fixed nearest / bilinear resize followed by a 1x1
convolution. Dropout, when enabled, sits at the end of the contracting path, as in the paper.
Because each level halves the resolution, H and W must be divisible by 2**(num_layers - 1).
"""

from __future__ import annotations

from typing import Literal

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


class UNetOptions(ModelOptions):
    name: Literal["unet"] = "unet"
    num_layers: int = Field(
        default=5,
        ge=2,
        le=6,
        description="Levels including the bottom one (the paper has 5); each level down halves H and W",
    )
    features_start: int = Field(
        default=64, ge=4, le=128, description="Channels at the top level; each level down doubles them"
    )
    upsampling: Literal["transposed", "nearest", "bilinear"] = Field(
        default="transposed",
        description="transposed: learned 2x2 transposed convolution; nearest / bilinear: resize, then a 1x1 "
        "convolution",
    )
    activation: Activation = "relu"
    norm: Norm = "none"
    num_groups: NumGroups = DEFAULT_NUM_GROUPS
    dropout: Dropout = Field(
        default=0.0, description="Dropout at the end of the contracting path, as in the paper (0 disables it)"
    )


def double_conv(in_channels: int, out_channels: int, options: UNetOptions) -> nn.Sequential:
    settings = {"norm": options.norm, "num_groups": options.num_groups, "activation": options.activation}
    return nn.Sequential(
        *conv_norm_act(in_channels, out_channels, **settings),
        *conv_norm_act(out_channels, out_channels, **settings),
    )


class Up(nn.Module):
    """Upsample x2 halving the channels, concatenate the skip features, double convolution."""

    def __init__(self, in_channels: int, options: UNetOptions):
        super().__init__()
        out_channels = in_channels // 2
        if options.upsampling == "transposed":
            self.upsample: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        else:
            # align_corners=False for bilinear: the resize torchvision and most U-Net codebases use.
            extra = {"align_corners": False} if options.upsampling == "bilinear" else {}
            self.upsample = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=options.upsampling, **extra),
                nn.Conv2d(in_channels, out_channels, kernel_size=1),
            )
        # Upsampled half + skip half = in_channels again.
        self.conv = double_conv(in_channels, out_channels, options)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.upsample(x)], dim=1))


class UNet(nn.Module):
    def __init__(self, options: UNetOptions, in_channels: int, num_classes: int):
        super().__init__()
        features = options.features_start
        self.inc = double_conv(in_channels, features, options)
        self.down = nn.ModuleList()
        for _ in range(options.num_layers - 1):
            self.down.append(nn.Sequential(nn.MaxPool2d(2), double_conv(features, features * 2, options)))
            features *= 2
        self.dropout = nn.Dropout(options.dropout) if options.dropout else nn.Identity()
        self.up = nn.ModuleList()
        for _ in range(options.num_layers - 1):
            self.up.append(Up(features, options))
            features //= 2
        self.head = nn.Conv2d(features, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        x = self.dropout(skips.pop())
        for up in self.up:
            x = up(x, skips.pop())
        return self.head(x)


@register_model(
    options=UNetOptions,
    task="segmentation",
    description="U-Net (Ronneberger et al. 2015) with padded convolutions: per-pixel logits at the input size",
)
def build_unet(options: UNetOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    channels, height, width = check_input_shape("unet", input_shape)
    factor = 2 ** (options.num_layers - 1)
    if height % factor or width % factor:
        raise ValueError(
            f"unet with num_layers={options.num_layers} halves the input {options.num_layers - 1} times, so "
            f"height and width must be divisible by {factor}; got {height}x{width}"
        )
    return UNet(options, channels, num_classes)
