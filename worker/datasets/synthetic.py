"""Synthetic image classification sets shaped like MNIST and CIFAR-10, generated from a seed.

Each class has a smooth random prototype image; samples are the prototype, shifted by a few
pixels, scaled in contrast and covered with noise. Learnable, but not trivially so, and
needing no download: for offline use, demos and tests. The data are drawn from the run's split
seed (`split_seed`), not its training seed: every run with one split seed sees the same sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from trainboard.plugins import DatasetOptions, DatasetSplits, register_dataset


class _SyntheticOptions(DatasetOptions):
    num_train: int = Field(default=2000, ge=10, le=200_000, description="Training samples")
    num_test: int = Field(default=500, ge=10, le=50_000, description="Test samples")
    noise: float = Field(default=2.0, ge=0.0, le=10.0, description="Std of the added Gaussian noise")


class SyntheticMnistOptions(_SyntheticOptions):
    name: Literal["synthetic_mnist"] = "synthetic_mnist"


class SyntheticCifar10Options(_SyntheticOptions):
    name: Literal["synthetic_cifar10"] = "synthetic_cifar10"


def make_classification_set(
    shape: tuple[int, int, int], num_classes: int, options: _SyntheticOptions, seed: int
) -> DatasetSplits:
    """The data depend on `seed` (the split seed) only, so every run with one split seed sees the same set."""
    generator = torch.Generator().manual_seed(seed)
    channels, height, width = shape
    coarse = torch.randn(num_classes, channels, max(2, height // 4), max(2, width // 4), generator=generator)
    prototypes = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)

    def sample(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, num_classes, (count,), generator=generator)
        images = prototypes[labels].clone()
        shifts = torch.randint(-2, 3, (count, 2), generator=generator)
        for dy, dx in shifts.unique(dim=0).tolist():
            chosen = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            images[chosen] = torch.roll(images[chosen], shifts=(dy, dx), dims=(2, 3))
        contrast = 0.75 + 0.5 * torch.rand(count, 1, 1, 1, generator=generator)
        images = images * contrast + options.noise * torch.randn(images.shape, generator=generator)
        return images.float(), labels

    x_train, y_train = sample(options.num_train)
    x_test, y_test = sample(options.num_test)
    return DatasetSplits(x_train, y_train, x_test, y_test, num_classes)


@register_dataset(
    options=SyntheticMnistOptions,
    input_shape=(1, 28, 28),
    num_classes=10,
    task="classification",
    description="Synthetic 28x28 grey images in 10 classes, shaped like MNIST (no download)",
)
def load_synthetic_mnist(options: SyntheticMnistOptions, data_dir: Path, seed: int) -> DatasetSplits:
    return make_classification_set((1, 28, 28), 10, options, seed)


@register_dataset(
    options=SyntheticCifar10Options,
    input_shape=(3, 32, 32),
    num_classes=10,
    task="classification",
    description="Synthetic 32x32 colour images in 10 classes, shaped like CIFAR-10 (no download)",
)
def load_synthetic_cifar10(options: SyntheticCifar10Options, data_dir: Path, seed: int) -> DatasetSplits:
    return make_classification_set((3, 32, 32), 10, options, seed)
