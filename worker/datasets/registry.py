"""Dataset registry: each dataset registers its options (a pydantic model) and a loader.

A loader returns a `DatasetSplits` of tensors (the engine moves them to the training device
and batches them there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from collections.abc import Callable

import torch
from pydantic import BaseModel, ConfigDict

Task = Literal["classification", "segmentation"]


class DatasetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str


@dataclass
class DatasetSplits:
    """Inputs as float tensors (N, C, H, W), already normalised; targets as int64 class indices:
    (N,) for classification, (N, H, W) masks for segmentation."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int


# (x, y, options, generator) -> (x, y): augments one batch, on the training device, as whole tensors.
Augment = Callable[[torch.Tensor, torch.Tensor, DatasetOptions, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    options: type[DatasetOptions]
    load: Callable[[DatasetOptions, Path, int], DatasetSplits]  # (options, data_dir, seed)
    # (C, H, W), or a function of the options for datasets resized to a chosen size
    input_shape: tuple[int, ...] | Callable[[DatasetOptions], tuple[int, ...]]
    num_classes: int
    task: Task
    description: str
    augment: Augment | None = None
    # True when a horizontal flip keeps the label (CIFAR-10 yes; digits and traffic signs no):
    # then test-time augmentation averages the prediction over the image and its mirror.
    flip_invariant: bool = False

    def shape_for(self, options: DatasetOptions) -> tuple[int, ...]:
        return tuple(self.input_shape(options) if callable(self.input_shape) else self.input_shape)


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(
    *,
    options: type[DatasetOptions],
    input_shape: tuple[int, ...] | Callable[[DatasetOptions], tuple[int, ...]],
    num_classes: int,
    task: Task,
    description: str,
    augment: Augment | None = None,
    flip_invariant: bool = False,
):
    def decorator(load):
        name = options.model_fields["name"].default
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        DATASETS[name] = DatasetEntry(
            name, options, load, input_shape, num_classes, task, description, augment, flip_invariant
        )
        return load

    return decorator


def load_dataset(options: DatasetOptions, data_dir: Path, seed: int) -> DatasetSplits:
    return DATASETS[options.name].load(options, Path(data_dir), seed)
