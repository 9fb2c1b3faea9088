"""A synthetic segmentation set: 1 to 3 shapes (ellipses and rectangles, rotated, of random size
and brightness) on a noisy, unevenly lit background, with their masks (1 inside a shape, 0
outside). Generated from the run's split seed (`split_seed`: the same split seed gives the same
data, whatever the training seed), with no download: for
offline use, demos and tests of segmentation models.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from trainboard.plugins import DatasetOptions, DatasetSplits, register_dataset
from worker.datasets.transforms import augment_flips, normalise_by_train

MAX_SHAPES = 3
CHUNK = 256  # images drawn at a time, to bound the memory of the (chunk, shapes, H, W) masks


class SyntheticSegmentationOptions(DatasetOptions):
    name: Literal["synthetic_segmentation"] = "synthetic_segmentation"
    num_train: int = Field(default=200, ge=10, le=50_000, description="Training images")
    num_test: int = Field(default=50, ge=10, le=10_000, description="Test images")
    image_size: int = Field(default=64, ge=16, le=512, multiple_of=16, description="Side of the square images")
    noise: float = Field(default=0.3, ge=0.0, le=5.0, description="Std of the added Gaussian noise")
    augment: bool = Field(default=False, description="Random horizontal flips of image and mask together")


def _draw(count: int, size: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` images (count, 1, size, size) and masks (count, size, size) int64, vectorised over shapes."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in 0..1
    yy, xx = coords.view(1, 1, size, 1), coords.view(1, 1, 1, size)

    def uniform(low, high, shape=(count, MAX_SHAPES)):
        return low + (high - low) * torch.rand(shape, generator=generator)

    present = torch.arange(MAX_SHAPES).view(1, -1) < torch.randint(1, MAX_SHAPES + 1, (count, 1), generator=generator)
    is_ellipse = torch.rand(count, MAX_SHAPES, generator=generator) < 0.5
    centre_y, centre_x = uniform(0.2, 0.8), uniform(0.2, 0.8)
    half_h, half_w = uniform(0.06, 0.22), uniform(0.06, 0.22)
    angle = uniform(0.0, math.pi)
    brightness = uniform(0.6, 1.4)

    def per_shape(value):
        return value.view(count, MAX_SHAPES, 1, 1)

    # Each pixel in each shape's own rotated frame, in units of the shape's half-sizes.
    dy, dx = yy - per_shape(centre_y), xx - per_shape(centre_x)
    cos, sin = per_shape(torch.cos(angle)), per_shape(torch.sin(angle))
    u = (dx * cos + dy * sin) / per_shape(half_w)
    v = (-dx * sin + dy * cos) / per_shape(half_h)
    inside = torch.where(per_shape(is_ellipse), u.square() + v.square() <= 1.0, (u.abs() <= 1.0) & (v.abs() <= 1.0))
    inside &= per_shape(present)  # (count, shapes, size, size)

    masks = inside.any(dim=1)
    # The brightest shape shows where shapes overlap.
    foreground = (inside.float() * per_shape(brightness)).amax(dim=1, keepdim=True)
    coarse = torch.randn(count, 1, 4, 4, generator=generator)
    lighting = 0.3 * F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    images = lighting + foreground + noise * torch.randn(count, 1, size, size, generator=generator)
    return images, masks.long()


def make_segmentation_set(options: SyntheticSegmentationOptions, seed: int) -> DatasetSplits:
    """The data depend on `seed` (the split seed) only, so every run with one split seed sees the same set."""
    generator = torch.Generator().manual_seed(seed)

    def sample(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [_draw(min(CHUNK, count - start), options.image_size, options.noise, generator)
                 for start in range(0, count, CHUNK)]
        return torch.cat([images for images, _ in parts]), torch.cat([masks for _, masks in parts])

    x_train, y_train = sample(options.num_train)
    x_test, y_test = sample(options.num_test)
    x_train, x_test = normalise_by_train(x_train, x_test)
    return DatasetSplits(x_train, y_train, x_test, y_test, num_classes=2)


@register_dataset(
    options=SyntheticSegmentationOptions,
    input_shape=lambda options: (1, options.image_size, options.image_size),
    num_classes=2,
    task="segmentation",
    description="Synthetic grey images of 1-3 ellipses and rectangles on a noisy background, with their masks "
    "(no download)",
    augment=augment_flips,
    flip_invariant=True,
)
def load_synthetic_segmentation(options: SyntheticSegmentationOptions, data_dir: Path, seed: int) -> DatasetSplits:
    return make_segmentation_set(options, seed)
