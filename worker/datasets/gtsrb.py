"""GTSRB, the German Traffic Sign Recognition Benchmark: 43 classes of traffic-sign photos of
varied sizes (15x15 to 250x250 pixels), 39,209 for training and 12,630 for testing; the classes
are imbalanced (the engine reports balanced accuracy).

Files: torchvision's layout, which is the official archives extracted into `<data_dir>/gtsrb/`:

    gtsrb/GTSRB/Training/00000/*.ppm (+ GT-00000.csv) .. gtsrb/GTSRB/Training/00042/   (GTSRB-Training_fixed.zip)
    gtsrb/GTSRB/Final_Test/Images/*.ppm                                                  (GTSRB_Final_Test_Images.zip)
    gtsrb/GT-final_test.csv   (";"-separated, columns Filename ... ClassId)              (GTSRB_Final_Test_GT.zip)

The archives themselves, put in `<data_dir>/gtsrb/`, are extracted on first use. With `download`
(the default), torchvision fetches them when the folders are missing; offline, that fails within
seconds (a connection to the server is tried first, with a timeout) with `DatasetUnavailable`.

Reading: `torchvision.datasets.GTSRB` finds the samples (the .ppm files under the class folders
for training; the test CSV's Filename and ClassId for testing). One correction: for training,
torchvision numbers the class folders found in sorted order, which is the class id only when all
43 folders are there, so the label is taken from the folder's name (00007 -> 7) instead, and a
copy holding some of the classes keeps the true ids. The images (whole, the CSVs' ROI is not
used, as in torchvision) are then decoded and resized to `image_size` squared with PIL (bilinear,
antialiased) once, at load time, in a few threads, and kept as one normalised tensor.

A training file is named `<track>_<frame>.ppm`: the 30 frames of a track are photos of one
physical sign. The loader gives each training image the group (class, track), so that the
engine's validation split takes whole tracks and never validates on frames of a sign it trains on.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field

from worker.datasets.errors import DatasetUnavailable, download_errors, require_online
from trainboard.plugins import DatasetOptions, DatasetSplits, register_dataset
from worker.datasets.transforms import colour_jitter, normalise_uint8, random_affine, subset_indices

NUM_CLASSES = 43
MEAN = (0.3403, 0.3121, 0.3214)
STD = (0.2724, 0.2608, 0.2669)
BASE_URL = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
ARCHIVES = ("GTSRB-Training_fixed.zip", "GTSRB_Final_Test_Images.zip", "GTSRB_Final_Test_GT.zip")


class GtsrbOptions(DatasetOptions):
    name: Literal["gtsrb"] = "gtsrb"
    download: bool = Field(default=True, description="Download the files when they are missing (needs the internet)")
    image_size: int = Field(
        default=32, ge=16, le=128, description="Side the images are resized to (square), once at load time"
    )
    limit_train: int | None = Field(
        default=None, ge=1, le=39_209, description="Train on this many samples (a fixed random subset); all if unset"
    )
    limit_test: int | None = Field(
        default=None, ge=1, le=12_630, description="Test on this many samples (a fixed random subset); all if unset"
    )
    augment: bool = Field(
        default=True,
        description="Random small rotations, shifts and zooms, and brightness/contrast/saturation jitter (no flips)",
    )


def _missing_message(base: Path) -> str:
    return (
        f"GTSRB not found in {base}: put GTSRB/Training/<class 00000..00042>/*.ppm, GTSRB/Final_Test/Images/*.ppm "
        f"and GT-final_test.csv there (the archives {', '.join(ARCHIVES)} from {BASE_URL} extracted there, or "
        "the archives themselves in that folder), or let trainboard download it (download=true) on a machine "
        "that is online"
    )


def _samples(data_dir: Path, options: GtsrbOptions) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    from torchvision.datasets import GTSRB

    base = data_dir / "gtsrb"
    message = _missing_message(base)
    with download_errors(message, base):
        needed = {
            "train": (base / "GTSRB" / "Training", ARCHIVES[:1]),
            "test": (base / "GTSRB" / "Final_Test" / "Images", ARCHIVES[1:]),
        }
        splits = {}
        for split, (folder, archives) in needed.items():
            have_archives = all((base / name).is_file() for name in archives)
            if not folder.is_dir() and not have_archives:  # with the archives, torchvision only extracts them
                if not options.download:
                    raise DatasetUnavailable(f"{message} (download=false; {folder} is missing)", base)
                require_online([BASE_URL], message, base)
            dataset = GTSRB(root=str(data_dir), split=split, download=not folder.is_dir())
            splits[split] = list(dataset._samples)  # [(path, class)]: the list torchvision reads from
    # The class id is the folder's name (torchvision numbers the folders found; see the docstring).
    train = [
        (path, int(folder) if (folder := Path(path).parent.name).isdigit() else label)
        for path, label in splits["train"]
    ]
    if not train or not splits["test"]:
        raise DatasetUnavailable(f"{message} (no images found)", base)
    wrong = sorted({label for _, label in train + splits["test"] if not 0 <= label < NUM_CLASSES})
    if wrong:
        raise DatasetUnavailable(f"GTSRB in {base} has class ids outside 0..42: {wrong[:5]}", base)
    return train, splits["test"]


def _load_images(samples: list[tuple[str, int]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    def read(path: str) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))

    paths = [path for path, _ in samples]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL releases the GIL
        images = np.stack(list(pool.map(read, paths)))
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)
    return torch.from_numpy(images).permute(0, 3, 1, 2), labels


def _prepare(samples, limit: int | None, size: int) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, int]]]:
    """Normalised images, labels, and the samples chosen (a fixed subset under `limit`)."""
    index = subset_indices(len(samples), limit)
    if index is not None:
        samples = [samples[i] for i in index.tolist()]  # only the chosen images are decoded
    images, labels = _load_images(samples, size)
    return normalise_uint8(images, MEAN, STD), labels, samples


def track_groups(samples: list[tuple[str, int]]) -> torch.Tensor:
    """A group id per training sample: one per (class, track), the track being the file name's
    first number (`00003_00012.ppm`: track 3); a file named otherwise is a group of its own."""
    ids: dict[tuple[int, str], int] = {}
    groups = []
    for path, label in samples:
        stem = Path(path).stem
        key = (label, stem.split("_")[0] if "_" in stem else stem)
        groups.append(ids.setdefault(key, len(ids)))
    return torch.tensor(groups, dtype=torch.long)


def augment_gtsrb(x, y, options, generator):
    """Rotations of up to ±12°, shifts of up to ±10% and zooms of ±10% (the surround mirrored from
    the image), then brightness, contrast and saturation jitter of ±30%. No flips: a mirrored sign
    can mean another thing (keep left / keep right)."""
    x, _ = random_affine(
        x, generator, degrees=12.0, translate=0.1, scale=(0.9, 1.1), padding_mode="reflection"
    )
    x = colour_jitter(x, generator, brightness=0.3, contrast=0.3, saturation=0.3, mean=MEAN, std=STD)
    return x, y


@register_dataset(
    options=GtsrbOptions,
    input_shape=lambda options: (3, options.image_size, options.image_size),
    num_classes=NUM_CLASSES,
    task="classification",
    description="GTSRB German traffic signs, colour, resized to image_size (default 32x32), 43 imbalanced classes",
    augment=augment_gtsrb,
)
def load_gtsrb(options: GtsrbOptions, data_dir: Path, seed: int) -> DatasetSplits:
    train, test = _samples(Path(data_dir), options)
    try:
        x_train, y_train, train = _prepare(train, options.limit_train, options.image_size)
        x_test, y_test, _ = _prepare(test, options.limit_test, options.image_size)
    except OSError as exc:  # a missing or unreadable image
        raise DatasetUnavailable(
            f"GTSRB: cannot read an image in {Path(data_dir) / 'gtsrb'} ({exc})", Path(data_dir) / "gtsrb"
        ) from exc
    return DatasetSplits(x_train, y_train, x_test, y_test, num_classes=NUM_CLASSES, groups=track_groups(train))
