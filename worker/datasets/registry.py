"""Dataset registry: each dataset registers its options (a pydantic model) and a loader.

A loader returns a `DatasetSplits` of tensors (the engine moves them to the training device
and batches them there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
from pydantic import BaseModel, ConfigDict

Task = Literal["classification", "segmentation"]


class DatasetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str


@dataclass
class DatasetSplits:
    """Inputs as float tensors (N, C, H, W); targets as int64 class indices (N,) or masks."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    options: type[DatasetOptions]
    load: Callable[[DatasetOptions, Path, int], DatasetSplits]  # (options, data_dir, seed)
    input_shape: tuple[int, ...]
    num_classes: int
    task: Task
    description: str


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(
    *, options: type[DatasetOptions], input_shape: tuple[int, ...], num_classes: int, task: Task, description: str
):
    def decorator(load):
        name = options.model_fields["name"].default
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        DATASETS[name] = DatasetEntry(name, options, load, tuple(input_shape), num_classes, task, description)
        return load

    return decorator


def load_dataset(options: DatasetOptions, data_dir: Path, seed: int) -> DatasetSplits:
    return DATASETS[options.name].load(options, Path(data_dir), seed)
