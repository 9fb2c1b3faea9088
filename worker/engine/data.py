"""The data a run trains and is measured on: its dataset loaded with the spec's split seed, and a
validation split held out of the training set, the same way for every dataset.

The validation split depends on `split_seed` only (never on the run's `seed`), so every seed of a
study is selected on the same samples. It holds `round(val_fraction * units)` units, at least 1
and leaving at least 1 for training, where a unit is a sample, or a group when the dataset gives
`groups` (frames of one traffic sign, images of one patient): a group is never split between
training and validation, and the fraction is then a fraction of the groups (as scikit-learn's
GroupShuffleSplit). For classification the units are stratified by class: each class gives its
share, within one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from trainboard.plugins import DatasetSplits
from worker.datasets import load_dataset
from worker.datasets.errors import DatasetUnavailable


class ValidationSplitTooSmall(DatasetUnavailable):
    """The training set cannot give a validation split and keep a training one (a dataset that
    cannot serve the run as asked: reported as the run's error, like missing files)."""


@dataclass
class RunData:
    """Tensors on the CPU; `x_val` and `y_val` are None when no validation split is held out."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    def to(self, device: torch.device, memory_format: torch.memory_format = torch.contiguous_format) -> RunData:
        def inputs(x):
            return None if x is None else x.to(device).contiguous(memory_format=memory_format)

        def targets(y):
            return None if y is None else y.to(device)

        return RunData(inputs(self.x_train), targets(self.y_train), inputs(self.x_val), targets(self.y_val),
                       inputs(self.x_test), targets(self.y_test), self.num_classes)

    def measured_splits(self, eval_train: bool) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(metric prefix, inputs, targets) of each split measured at an epoch's end: the validation
        split (when held out), the test set, and with `eval_train` the training set (not augmented)."""
        splits = [] if self.x_val is None else [("val", self.x_val, self.y_val)]
        splits.append(("test", self.x_test, self.y_test))
        if eval_train:
            splits.append(("train_eval", self.x_train, self.y_train))
        return splits

    def sizes(self) -> dict[str, int]:
        """The samples of each split, for the run's recorded facts."""
        return {"train_samples": len(self.x_train), "val_samples": 0 if self.x_val is None else len(self.x_val),
                "test_samples": len(self.x_test)}


def validation_indices(
    count: int, fraction: float, seed: int, *, groups: torch.Tensor | None = None, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) sorted indices of `count` training samples. `groups`: a group id per
    sample, kept whole; `labels`: class per sample, to stratify by (a group's first sample's class)."""
    kind = "sample" if groups is None else "group"
    if groups is None:
        groups = torch.arange(count)
    unit_ids, unit_of_sample = torch.unique(groups, return_inverse=True)
    units = len(unit_ids)
    if units < 2:
        raise ValidationSplitTooSmall(
            f"the training set has {units} {kind}{'' if units == 1 else 's'}: too few to hold out a validation "
            f"split (val_fraction {fraction}) and keep one for training; set val_fraction to 0 or use more data"
        )
    wanted = min(max(1, int(fraction * units + 0.5)), units - 1)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(units, generator=generator)
    if labels is not None:
        first_sample = torch.full((units,), count, dtype=torch.long).scatter_reduce(
            0, unit_of_sample, torch.arange(count), reduce="amin"
        )
        stratum = labels[first_sample]
        order = order[torch.sort(stratum[order], stable=True).indices]  # shuffled within each class
    # Systematic sampling along that order: position p is taken when the running share
    # wanted * p / units passes a half, which takes exactly `wanted` units, spread evenly over classes.
    position = torch.arange(units)
    taken = (2 * (position + 1) * wanted + units) // (2 * units) > (2 * position * wanted + units) // (2 * units)
    in_validation = torch.zeros(units, dtype=torch.bool)
    in_validation[order[taken]] = True
    sample_in_validation = in_validation[unit_of_sample]
    return (~sample_in_validation).nonzero().flatten(), sample_in_validation.nonzero().flatten()


def hold_out_validation(splits: DatasetSplits, fraction: float, seed: int, *, task: str) -> RunData:
    """The loader's splits with `fraction` of the training set moved to a validation split."""
    if fraction <= 0:
        return RunData(splits.x_train, splits.y_train, None, None, splits.x_test, splits.y_test, splits.num_classes)
    train, val = validation_indices(
        len(splits.x_train), fraction, seed, groups=splits.groups,
        labels=splits.y_train if task == "classification" else None,
    )
    return RunData(splits.x_train[train], splits.y_train[train], splits.x_train[val], splits.y_train[val],
                   splits.x_test, splits.y_test, splits.num_classes)


def load_run_data(spec, data_dir: Path) -> RunData:
    """The spec's dataset, loaded and split by `spec.split_seed` (an `EngineSpec`)."""
    splits = load_dataset(spec.dataset, data_dir, spec.split_seed)
    return hold_out_validation(splits, spec.val_fraction, spec.split_seed, task=spec.task)
