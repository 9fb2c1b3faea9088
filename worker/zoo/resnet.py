"""ResNet-18/34 with BasicBlocks (He et al. 2016, "Deep Residual Learning for Image Recognition").

Each BasicBlock is conv3x3 -> norm -> activation -> conv3x3 -> norm, added to the shortcut
(identity, or a 1x1 convolution + norm when the stride or the width changes, torchvision's
"option B"), then the activation. Four stages of widths base_width x [1, 2, 4, 8]; every stage
after the first halves the resolution; global average pool and a linear layer give the logits.

The `stem` option chooses the first layers:
- cifar: one 3x3 convolution at stride 1 and no max-pool, so a 32x32 image is still 32x32 when it
  enters the first stage;
- imagenet: a 7x7 convolution at stride 2 and a 3x3 max-pool at stride 2 (torchvision's), which
  shrink a 32x32 image to 8x8 at once: the same parameters, about 1/16 of the MACs (and accuracy
  to match). The ResNet of the seed-003 architecture study is this one: its MACs are far below
  VGG-11's;
- auto (the default, and the only behaviour before the option existed, so older runs keep their
  meaning): the CIFAR stem for inputs whose smaller side is <= 64 pixels (CIFAR, MNIST, GTSRB,
  Tiny ImageNet), the ImageNet stem above.
With the ImageNet stem, depth 18, base_width 64, batch norm and 1000 classes the model has the
same parameters (11,689,512) and MACs as `torchvision.models.resnet18()`.
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
    Norm,
    NumGroups,
    activation_layer,
    check_input_shape,
    conv_bias,
    norm_layer,
)
from trainboard.plugins import ModelOptions, register_model

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}
CIFAR_STEM_MAX_SIZE = 64


class ResNetOptions(ModelOptions):
    name: Literal["resnet"] = "resnet"
    depth: Literal[18, 34] = Field(default=18, description="18: [2, 2, 2, 2] blocks; 34: [3, 4, 6, 3]")
    base_width: int = Field(
        default=64, ge=4, le=256, description="Channels of the first stage; the later stages have 2x, 4x, 8x"
    )
    norm: Norm = "batch"
    num_groups: NumGroups = DEFAULT_NUM_GROUPS
    activation: Activation = "relu"
    stem: Literal["auto", "cifar", "imagenet"] = Field(
        default="auto",
        description="cifar: 3x3 conv at stride 1; imagenet: 7x7 conv at stride 2 and a max-pool (1/16 of the "
        "MACs at 32x32); auto: cifar for inputs up to 64x64, imagenet above",
    )
    zero_init_residual: bool = Field(
        default=False,
        description="Start every residual branch at zero (its last norm's scale, or its second convolution "
        "when norm=none), so each block starts as the identity (Goyal et al. 2017)",
    )


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, options: ResNetOptions):
        super().__init__()
        bias = conv_bias(options.norm)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)
        self.norm1 = norm_layer(options.norm, out_channels, options.num_groups)
        self.act1 = activation_layer(options.activation)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias)
        self.norm2 = norm_layer(options.norm, out_channels, options.num_groups)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias),
                norm_layer(options.norm, out_channels, options.num_groups),
            )
        self.act2 = activation_layer(options.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))
        return self.act2(residual + self.shortcut(x))

    def zero_init_last(self) -> None:
        """Make the residual branch output zero, so the block starts as (activation of) its shortcut."""
        last = self.norm2 if isinstance(self.norm2, (nn.BatchNorm2d, nn.GroupNorm)) else self.conv2
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)


class ResNet(nn.Module):
    def __init__(self, options: ResNetOptions, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        in_channels, height, width = input_shape
        base = options.base_width
        bias = conv_bias(options.norm)
        self.cifar_stem = options.stem == "cifar" or (
            options.stem == "auto" and min(height, width) <= CIFAR_STEM_MAX_SIZE
        )
        if self.cifar_stem:
            stem_layers: list[nn.Module] = [nn.Conv2d(in_channels, base, 3, stride=1, padding=1, bias=bias)]
        else:
            stem_layers = [nn.Conv2d(in_channels, base, 7, stride=2, padding=3, bias=bias)]
        stem_layers += [norm_layer(options.norm, base, options.num_groups), activation_layer(options.activation)]
        if not self.cifar_stem:
            stem_layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem_layers)

        stages: list[nn.Module] = []
        channels = base
        for index, blocks in enumerate(BLOCKS_PER_STAGE[options.depth]):
            out_channels = base * 2**index
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, out_channels, stride, options)]
            stage += [BasicBlock(out_channels, out_channels, 1, options) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.pool = GlobalAveragePool()
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self, options.zero_init_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


def _init_weights(model: ResNet, zero_init_residual: bool) -> None:
    """torchvision's ResNet initialisation: He-normal (fan_out) convolutions, norms at scale 1, shift 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, BasicBlock):
                module.zero_init_last()


@register_model(
    options=ResNetOptions,
    task="classification",
    description="ResNet-18/34 (BasicBlocks); stem: CIFAR (3x3) or ImageNet (7x7/2 and max-pool), by default "
    "CIFAR for inputs up to 64x64",
)
def build_resnet(options: ResNetOptions, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return ResNet(options, check_input_shape("resnet", input_shape), num_classes)
