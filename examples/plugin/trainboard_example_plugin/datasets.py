"""`stripes`: 16x16 grey images of horizontal, vertical or diagonal stripes in noise (3 classes),
generated from the seed, so it needs no download. A real plugin would read its files from
`data_dir` here, and say where to put them when they are missing."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from trainboard.plugins import DatasetOptions, DatasetSplits, register_dataset

SIZE = 16


class StripesOptions(DatasetOptions):
    name: Literal["stripes"] = "stripes"
    num_train: int = Field(default=600, ge=30, le=100_000)
    num_test: int = Field(default=150, ge=30, le=100_000)
    noise: float = Field(default=0.5, ge=0.0, le=5.0, description="Std of the Gaussian noise added")


def _images(count: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 3, (count,), generator=generator)
    rows, cols = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    period = torch.randint(3, 6, (count, 1, 1), generator=generator)
    phase = torch.randint(0, 6, (count, 1, 1), generator=generator)
    coordinate = torch.stack([rows, cols, rows + cols])[labels]  # (count, 16, 16)
    images = ((coordinate + phase) % period < period / 2).float()
    images = images + noise * torch.randn(images.shape, generator=generator)
    return images.unsqueeze(1), labels


@register_dataset(
    options=StripesOptions, input_shape=(1, SIZE, SIZE), num_classes=3, task="classification",
    description="Stripes in three orientations, in noise (generated, no download)",
)  # fmt: skip
def load(options: StripesOptions, data_dir: Path, seed: int) -> DatasetSplits:
    generator = torch.Generator().manual_seed(seed)
    x_train, y_train = _images(options.num_train, options.noise, generator)
    x_test, y_test = _images(options.num_test, options.noise, generator)
    mean, std = x_train.mean(), x_train.std()
    return DatasetSplits((x_train - mean) / std, y_train, (x_test - mean) / std, y_test, num_classes=3)
