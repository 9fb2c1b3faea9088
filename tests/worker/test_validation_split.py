"""The validation split the engine holds out of every dataset's training set, and the data that
depend on the split seed rather than the run's seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.utils.dataset_files import square_image, write_gtsrb, write_lung_paired
from trainboard.plugins import DatasetSplits
from worker.datasets import load_dataset
from worker.engine.data import ValidationSplitTooSmall, hold_out_validation, load_run_data, validation_indices
from worker.engine.spec import EngineSpec
from worker.zoo import MODELS  # noqa: F401  (registers the models a spec names)


def make_spec(**overrides) -> EngineSpec:
    spec = {"model": "mlp", "dataset": {"name": "synthetic_mnist", "num_train": 600, "num_test": 100},
            "learning_rate": 0.1, "epochs": 1, "batch_size": 50}
    return EngineSpec.model_validate({**spec, **overrides})


def rows(x: torch.Tensor) -> set[bytes]:
    """Each sample's bytes, to compare sets of samples."""
    return {sample.numpy().tobytes() for sample in x}


def test_validation_is_disjoint_from_training_and_sized_by_the_fraction(tmp_path):
    data = load_run_data(make_spec(val_fraction=0.15), tmp_path)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (510, 90, 100)  # round(0.15 * 600) = 90
    assert not rows(data.x_train) & rows(data.x_val)
    everything = load_dataset(make_spec().dataset, tmp_path, 0)
    assert rows(data.x_train) | rows(data.x_val) == rows(everything.x_train)
    assert data.sizes() == {"train_samples": 510, "val_samples": 90, "test_samples": 100}


def test_validation_is_stratified_by_class(tmp_path):
    data = load_run_data(make_spec(val_fraction=0.2), tmp_path)
    train_counts = torch.bincount(data.y_train, minlength=10)
    val_counts = torch.bincount(data.y_val, minlength=10)
    for in_val, total in zip(val_counts.tolist(), (train_counts + val_counts).tolist(), strict=True):
        assert abs(in_val - 0.2 * total) <= 1


def test_no_validation_split_at_fraction_zero(tmp_path):
    data = load_run_data(make_spec(val_fraction=0), tmp_path)
    assert data.x_val is None and len(data.x_train) == 600
    assert [prefix for prefix, _, _ in data.measured_splits(eval_train=True)] == ["test", "train_eval"]


def test_the_split_depends_on_the_split_seed_not_the_run_seed(tmp_path):
    def val(**fields):
        return load_run_data(make_spec(**fields), tmp_path).x_val

    assert torch.equal(val(seed=1), val(seed=2))
    assert torch.equal(val(seed=1, split_seed=5), val(seed=2, split_seed=5))
    assert not torch.equal(val(split_seed=5), val(split_seed=6))


@pytest.mark.parametrize("dataset", [
    {"name": "synthetic_mnist", "num_train": 50, "num_test": 20},
    {"name": "synthetic_cifar10", "num_train": 50, "num_test": 20},
    {"name": "synthetic_segmentation", "num_train": 12, "num_test": 10, "image_size": 16},
])
def test_synthetic_data_depend_on_the_split_seed_not_the_run_seed(tmp_path, dataset):
    model = "unet" if dataset["name"] == "synthetic_segmentation" else "mlp"

    def data(**fields):
        return load_run_data(make_spec(model=model, dataset=dataset, **fields), tmp_path)

    first, other_run_seed, other_split_seed = data(seed=1), data(seed=2), data(seed=1, split_seed=3)
    assert torch.equal(first.x_test, other_run_seed.x_test) and torch.equal(first.x_train, other_run_seed.x_train)
    assert not torch.equal(first.x_test, other_split_seed.x_test)


def test_the_lung_test_split_depends_on_the_split_seed_not_the_run_seed(tmp_path):
    rng = np.random.default_rng(0)
    cases = {}
    for number in range(10):
        image = square_image(64, 64, (10, 8, 50, 28)) + rng.integers(0, 20, (64, 64), dtype=np.uint8)
        cases[f"case{number}"] = (image, square_image(64, 64, (10, 8, 50, 28), inside=255, outside=0))
    write_lung_paired(tmp_path, cases)

    def test_images(**fields):
        spec = make_spec(model="unet", dataset={"name": "lung_xray", "image_size": 64, "test_fraction": 0.3},
                         **fields)
        return load_run_data(spec, tmp_path).x_test

    assert torch.equal(test_images(seed=1), test_images(seed=2))
    assert not torch.equal(test_images(split_seed=1), test_images(split_seed=2))


def gtsrb_tracks(data_dir, frames_by_class: dict[int, int]):
    """GTSRB files with 30 frames a track (see write_gtsrb); each track's frames share a colour."""
    train = {}
    for class_id, frames in frames_by_class.items():
        train[class_id] = [np.full((8, 8, 3), (class_id * 5 + frame // 30 * 40) % 256, dtype=np.uint8)
                           for frame in range(frames)]
    write_gtsrb(data_dir, train, [(np.zeros((8, 8, 3), dtype=np.uint8), 0)])


def test_gtsrb_frames_of_one_track_never_straddle_training_and_validation(tmp_path):
    gtsrb_tracks(tmp_path, {0: 90, 7: 60, 42: 60})  # 7 tracks of 30 frames
    options = EngineSpec.model_validate(
        {**make_spec().model_dump(), "dataset": {"name": "gtsrb", "download": False, "image_size": 16}}
    ).dataset
    splits = load_dataset(options, tmp_path, 0)
    assert torch.bincount(splits.groups).tolist() == [30] * 7
    for seed in range(5):
        train, val = validation_indices(len(splits.y_train), 0.3, seed, groups=splits.groups, labels=splits.y_train)
        assert not set(splits.groups[train].tolist()) & set(splits.groups[val].tolist())
        data = hold_out_validation(splits, 0.3, seed, task="classification")
        assert len(data.x_val) == 60  # round(0.3 * 7) = 2 whole tracks; sample by sample it would be 63

    limited = load_dataset(options.model_copy(update={"limit_train": 100}), tmp_path, 0)
    assert len(limited.groups) == 100
    for group in limited.groups.unique():  # a fixed subset keeps each sample's own track
        assert len(limited.y_train[limited.groups == group].unique()) == 1


def test_a_training_set_too_small_to_split_fails_clearly():
    splits = DatasetSplits(torch.zeros(30, 1, 4, 4), torch.zeros(30, dtype=torch.long), torch.zeros(2, 1, 4, 4),
                           torch.zeros(2, dtype=torch.long), num_classes=2, groups=torch.zeros(30, dtype=torch.long))
    with pytest.raises(ValidationSplitTooSmall, match="1 group: too few to hold out a validation split"):
        hold_out_validation(splits, 0.1, 0, task="classification")
    # A tiny fraction of a small set still holds out one sample, and leaves one to train on.
    assert [len(part) for part in validation_indices(10, 0.01, 0)] == [9, 1]
    assert [len(part) for part in validation_indices(2, 0.5, 0)] == [1, 1]
