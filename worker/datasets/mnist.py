"""MNIST: 70,000 28x28 grey handwritten digits in 10 classes (60,000 train, 10,000 test).

Files: torchvision's layout, the four IDX files of the original distribution, uncompressed, in
`<data_dir>/MNIST/raw/`:

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

Put there as distributed (`.gz`), they are decompressed beside on first use. With `download`
(the default), torchvision fetches them when missing; offline, that fails within seconds (a
connection to the mirror is tried first, with a timeout) with `DatasetUnavailable`.

The whole set is read once by `torchvision.datasets.MNIST`, which parses the IDX files into a
uint8 tensor (`dataset.data`, (N, 28, 28)) and int64 labels (`dataset.targets`); those are
normalised as whole tensors, not through the per-sample `__getitem__`.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from worker.datasets.errors import DatasetUnavailable, download_errors, require_online
from trainboard.plugins import DatasetOptions, DatasetSplits, register_dataset
from worker.datasets.transforms import normalise_uint8, random_affine, subset_indices

MEAN, STD = (0.1307,), (0.3081,)
BACKGROUND = -MEAN[0] / STD[0]  # a black pixel, normalised
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class MnistOptions(DatasetOptions):
    name: Literal["mnist"] = "mnist"
    download: bool = Field(default=True, description="Download the files when they are missing (needs the internet)")
    limit_train: int | None = Field(
        default=None, ge=1, le=60_000, description="Train on this many samples (a fixed random subset); all if unset"
    )
    limit_test: int | None = Field(
        default=None, ge=1, le=10_000, description="Test on this many samples (a fixed random subset); all if unset"
    )
    augment: bool = Field(
        default=False, description="Random small shifts, rotations and zooms of the training batches"
    )


def _missing_message(raw: Path) -> str:
    return (
        f"MNIST not found in {raw}: put {', '.join(FILES[:-1])} and {FILES[-1]} there (uncompressed, or the "
        ".gz files as distributed, e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/), "
        "or let trainboard download it (download=true) on a machine that is online"
    )


def _decompress_gz(raw: Path) -> None:
    """Unpack `<name>.gz` to `<name>` where only the compressed file was put in the folder."""
    for name in FILES:
        packed, plain = raw / f"{name}.gz", raw / name
        if packed.is_file() and not plain.is_file():
            partial = plain.with_suffix(".partial")
            with gzip.open(packed, "rb") as source, open(partial, "wb") as target:
                shutil.copyfileobj(source, target)
            partial.replace(plain)


def _read(data_dir: Path, options: MnistOptions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    raw = data_dir / "MNIST" / "raw"
    message = _missing_message(raw)
    with download_errors(message, raw):
        if raw.is_dir():
            _decompress_gz(raw)
        present = all((raw / name).is_file() for name in FILES)
        if not present:
            if not options.download:
                raise DatasetUnavailable(message + " (download=false)", raw)
            require_online([mirror + "train-images-idx3-ubyte.gz" for mirror in MNIST.mirrors], message, raw)
        train = MNIST(root=str(data_dir), train=True, download=not present)
        test = MNIST(root=str(data_dir), train=False, download=False)
    return train.data, train.targets, test.data, test.targets


def _prepare(images: torch.Tensor, labels: torch.Tensor, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    index = subset_indices(len(images), limit)
    if index is not None:
        images, labels = images[index], labels[index]
    return normalise_uint8(images.unsqueeze(1), MEAN, STD), labels.long()


def augment_mnist(x, y, options, generator):
    """Shifts of up to ±2-3 pixels, rotations of up to ±10° and zooms of ±10%, with a black surround.
    No flips: a mirrored digit is another symbol."""
    x, _ = random_affine(x, generator, degrees=10.0, translate=0.1, scale=(0.9, 1.1), fill=BACKGROUND)
    return x, y


@register_dataset(
    options=MnistOptions,
    input_shape=(1, 28, 28),
    num_classes=10,
    task="classification",
    description="MNIST handwritten digits, 28x28 grey, 10 classes (60,000 train / 10,000 test)",
    augment=augment_mnist,
)
def load_mnist(options: MnistOptions, data_dir: Path, seed: int) -> DatasetSplits:
    x_train, y_train, x_test, y_test = _read(Path(data_dir), options)
    x_train, y_train = _prepare(x_train, y_train, options.limit_train)
    x_test, y_test = _prepare(x_test, y_test, options.limit_test)
    return DatasetSplits(x_train, y_train, x_test, y_test, num_classes=10)
