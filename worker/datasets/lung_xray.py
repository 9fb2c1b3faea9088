"""Lung segmentation in chest X-rays: grey radiographs with a binary mask of the lungs
(0 background, 1 lung), from public sets such as the Montgomery County chest X-ray set (U.S.
National Library of Medicine, NLM-MontgomeryCXRSet: 138 images), the Shenzhen set with its lung
masks, or the JSRT database (Japanese Society of Radiological Technology, 247 images) with the
SCR masks (Segmentation in Chest Radiographs, Image Sciences Institute, Utrecht). None can be
downloaded automatically (registration or manual download): their files are put in the data
folder by hand.

Files, under `<data_dir>` (folders set by `images_dir` / `masks_dir`, relative to it):

- layout "paired": `lung_xray/images/<name>.png` and `lung_xray/masks/<name>.png`, an image and
  its mask matched by name; a mask's name may carry a suffix such as `_mask` (`<name>_mask.png`,
  as in the Shenzhen masks) or `-mask`, `_seg`, `_label`;
- layout "montgomery": the masks of the left and right lung in two sub-folders of the masks
  folder, as in Montgomery's `ManualMask/leftMask/<name>.png` and `ManualMask/rightMask/<name>.png`
  (or SCR's `left lung` / `right lung`), merged into one lung mask;
- layout "auto" (default): "montgomery" when the masks folder has sub-folders named left... and
  right..., else "paired".

Images without a mask are left out. Any format PIL reads (PNG, JPEG, BMP, GIF, TIFF, PPM/PGM),
colour (made grey) or 16-bit grey (scaled to its own range) for images. At load time, once: each
image is resized to `image_size` squared (bilinear, antialiased) and each mask with nearest
neighbour, then thresholded at half its maximum (so 0/1, 0/255 and slightly lossy masks all give
{0, 1}). The set is split into train and test by a permutation drawn from the run's split seed
(`split_seed`: the same split seed, the same split, whatever the training seed); images are
normalised with the training images' mean and std. Each image is one patient in these sets, so
the engine's validation split (sample by sample) never puts a patient on both sides. The
validation images are among those the mean and std come from: two numbers of pixel statistics,
no labels, as the fixed normalisation constants of MNIST or CIFAR-10 are the whole training set's.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, field_validator

from worker.datasets.errors import DatasetUnavailable
from trainboard.plugins import DatasetOptions, DatasetSplits, register_dataset
from worker.datasets.transforms import augment_flips, normalise_by_train

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
MASK_NAME_SUFFIX = re.compile(r"[_\-. ]?(mask|masks|seg|segmentation|label|labels|gt)$", re.IGNORECASE)
SOURCES = (
    "the Montgomery County chest X-ray set (U.S. National Library of Medicine, NLM-MontgomeryCXRSet: "
    "CXR_png/ as images, ManualMask/ with leftMask/ and rightMask/ as masks), the Shenzhen set with its "
    "lung masks, or the JSRT images (as PNG) with the SCR lung masks"
)


class LungXrayOptions(DatasetOptions):
    name: Literal["lung_xray"] = "lung_xray"
    images_dir: str = Field(default="lung_xray/images", max_length=300, description="Images folder, in the data folder")
    masks_dir: str = Field(default="lung_xray/masks", max_length=300, description="Masks folder, in the data folder")
    layout: Literal["auto", "paired", "montgomery"] = Field(
        default="auto",
        description="paired: one mask per image; montgomery: left and right lung masks in two sub-folders; "
        "auto: montgomery when the masks folder has left... and right... sub-folders",
    )
    image_size: int = Field(
        default=256, ge=64, le=1024, multiple_of=16, description="Side images and masks are resized to (square)"
    )
    test_fraction: float = Field(
        default=0.2, ge=0.05, le=0.5, description="Share of the images held out for testing (split by the split seed)"
    )
    augment: bool = Field(default=True, description="Random horizontal flips of image and mask together")

    @field_validator("images_dir", "masks_dir")
    @classmethod
    def _inside_data_dir(cls, value: str) -> str:
        path = PurePosixPath(value.replace("\\", "/"))
        if not value or path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", value):
            raise ValueError("must be a relative path inside the data folder, without '..'")
        return value


def _missing_message(images: Path, masks: Path, why: str) -> str:
    return (
        f"lung X-ray set not found ({why}): put the X-ray images in {images} and their lung masks in {masks} "
        f"(matched by name; or left and right lung masks in {masks}/leftMask and {masks}/rightMask). "
        f"This set is not downloaded automatically: get {SOURCES}"
    )


def _image_files(folder: Path) -> dict[str, Path]:
    return {
        path.stem: path
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    }


def _match(image_stems, folder: Path) -> dict[str, Path]:
    """{image stem: mask file} for the images with a mask in `folder` (same stem, or stem + suffix)."""
    masks = _image_files(folder)
    stripped = {MASK_NAME_SUFFIX.sub("", stem): path for stem, path in masks.items()}
    matched = {}
    for stem in image_stems:
        mask = masks.get(stem) or stripped.get(stem)
        if mask is not None:
            matched[stem] = mask
    return matched


def _side_folders(masks: Path) -> tuple[Path, Path] | None:
    subfolders = [path for path in sorted(masks.iterdir()) if path.is_dir()]
    left = [path for path in subfolders if path.name.lower().startswith("left")]
    right = [path for path in subfolders if path.name.lower().startswith("right")]
    return (left[0], right[0]) if left and right else None


def find_pairs(images: Path, masks: Path, layout: str) -> list[tuple[Path, list[Path]]]:
    """[(image, [its mask files])], sorted by name; a "montgomery" image has a left and a right mask."""
    for folder in (images, masks):
        if not folder.is_dir():
            raise DatasetUnavailable(_missing_message(images, masks, f"no folder {folder}"), folder)
    image_files = _image_files(images)
    sides = _side_folders(masks)
    if layout == "montgomery" and sides is None:
        raise DatasetUnavailable(
            _missing_message(images, masks, f"layout montgomery, but no leftMask/rightMask folders in {masks}"), masks
        )
    if layout == "montgomery" or (layout == "auto" and sides is not None):
        left, right = (_match(image_files, side) for side in sides)
        both = [stem for stem in image_files if stem in left and stem in right]
        pairs = [(image_files[stem], [left[stem], right[stem]]) for stem in both]
    else:
        matched = _match(image_files, masks)
        pairs = [(image_files[stem], [matched[stem]]) for stem in image_files if stem in matched]
    if len(pairs) < 2:
        raise DatasetUnavailable(
            _missing_message(
                images, masks, f"{len(image_files)} images in {images}, {len(pairs)} of them with a mask; 2 needed"
            ),
            images,
        )
    return pairs


def _read_image(path: Path, size: int) -> np.ndarray:
    """Grey float32 (size, size) in 0..1."""
    with Image.open(path) as image:
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # high bit depth: scale to its range
            pixels = np.asarray(image, dtype=np.float32)
            low, high = float(pixels.min()), float(pixels.max())
            pixels = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
            resized = Image.fromarray(pixels, mode="F").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(resized, dtype=np.float32)
        grey = image.convert("L").resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
        return np.asarray(grey, dtype=np.float32) / 255.0


def _read_mask(paths: list[Path], size: int) -> np.ndarray:
    """Binary uint8 (size, size): the union of the given masks, each thresholded at half its maximum."""
    merged = np.zeros((size, size), dtype=np.uint8)
    for path in paths:
        with Image.open(path) as mask:
            grey = mask.convert("L") if mask.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F") else mask
            high = grey.getextrema()[1]
            if high <= 0:
                continue
            resized = np.asarray(grey.resize((size, size), Image.Resampling.NEAREST))
            merged |= (resized > high / 2).astype(np.uint8)
    return merged


def load_pairs(pairs: list[tuple[Path, list[Path]]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images float32 (N, 1, size, size) in 0..1 and masks int64 (N, size, size) in {0, 1}."""

    def read(pair):
        image, masks = pair
        return _read_image(image, size), _read_mask(masks, size)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL releases the GIL
        loaded = list(pool.map(read, pairs))
    images = torch.from_numpy(np.stack([image for image, _ in loaded])).unsqueeze(1)
    masks = torch.from_numpy(np.stack([mask for _, mask in loaded])).long()
    return images, masks


def split_indices(count: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices from a permutation drawn from `seed` (the run's split seed): the same
    seed, the same split."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    num_test = min(max(1, round(count * test_fraction)), count - 1)
    return order[num_test:].sort().values, order[:num_test].sort().values


@register_dataset(
    options=LungXrayOptions,
    input_shape=lambda options: (1, options.image_size, options.image_size),
    num_classes=2,
    task="segmentation",
    description="Chest X-rays with lung masks (Montgomery, Shenzhen, JSRT/SCR; put in the data folder by hand), "
    "grey, resized to image_size (default 256), 2 classes per pixel",
    augment=augment_flips,
    flip_invariant=True,
)
def load_lung_xray(options: LungXrayOptions, data_dir: Path, seed: int) -> DatasetSplits:
    data_dir = Path(data_dir)
    images_dir, masks_dir = data_dir / options.images_dir, data_dir / options.masks_dir
    pairs = find_pairs(images_dir, masks_dir, options.layout)
    try:
        images, masks = load_pairs(pairs, options.image_size)
    except OSError as exc:  # an unreadable file
        raise DatasetUnavailable(f"lung X-ray set: cannot read a file in {images_dir} or {masks_dir} ({exc})",
                                 images_dir) from exc
    train, test = split_indices(len(pairs), options.test_fraction, seed)
    x_train, x_test = normalise_by_train(images[train], images[test])
    return DatasetSplits(x_train, masks[train], x_test, masks[test], num_classes=2)
