"""Shared helpers of the dataset files.

Load time (run once, on the CPU): `normalise_uint8` and `subset_indices`.

Training time (the engine applies a dataset's `augment` to each training batch, on the training
device): batch augmentations that work on the whole batch as tensors, with no Python loop over
samples and no PIL. Each takes the batch `x` (N, C, H, W) float, optionally the targets `y` (class
labels (N,) are left alone; segmentation masks (N, H, W) get the same geometric change as their
images, with nearest-neighbour sampling, so they stay aligned and integral), and a
`torch.Generator`. The random numbers are drawn on the CPU from that generator (the engine passes
a CPU generator seeded from the run's seed) and then moved to the batch's device, so a seed gives
the same augmentation on any device. Shapes and dtypes are kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------- load time

# Every run sees the same subset for a given limit (and a smaller limit's subset is part of a
# larger one's), whatever the run's seed: the seed changes the model and the order, not the data.
SUBSET_SEED = 0


def subset_indices(count: int, limit: int | None) -> torch.Tensor | None:
    """Sorted indices of a fixed random subset of `limit` of `count` samples; None for all of them.

    Random rather than the first `limit`, since some sets are stored sorted by class (GTSRB)."""
    if limit is None or limit >= count:
        return None
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SUBSET_SEED))
    return order[:limit].sort().values


def normalise_uint8(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images (N, C, H, W) in 0..255 -> float32 (x / 255 - mean) / std, per channel."""
    channels = images.shape[1]
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, channels, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, channels, 1, 1)
    return images.float().div_(255.0).sub_(mean_t).div_(std_t)


# ----------------------------------------------------------------------------- training time


def _uniform(generator: torch.Generator, count: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    """`count` numbers uniform in [low, high], drawn on the CPU, returned on `like`'s device and dtype."""
    values = low + (high - low) * torch.rand(count, generator=generator)
    return values.to(device=like.device, dtype=like.dtype)


def _same_format(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`out` in `x`'s memory format (the engine may hold the batches channels_last)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return out.contiguous(memory_format=torch.channels_last)
    return out.contiguous()


def _is_mask(x: torch.Tensor, y: torch.Tensor | None) -> bool:
    return y is not None and y.dim() == 3 and y.shape[-2:] == x.shape[-2:]


def _per_channel(value: float | Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """A scalar or per-channel value as a (1, C, 1, 1) (or scalar) tensor on `like`'s device."""
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return tensor.view(1, -1, 1, 1) if tensor.dim() == 1 else tensor


def random_hflip(
    x: torch.Tensor, generator: torch.Generator, y: torch.Tensor | None = None, p: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mirror each sample left-right with probability `p`; a mask `y` (N, H, W) is mirrored with its image."""
    flip = torch.rand(len(x), generator=generator).lt(p).to(x.device)
    out = _same_format(torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x), x)
    if _is_mask(x, y):
        y = torch.where(flip.view(-1, 1, 1), y.flip(-1), y)
    return out, y


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect out-of-range indices back into 0..size-1 (edge not repeated, as F.pad's 'reflect')."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def random_crop_with_padding(
    x: torch.Tensor,
    generator: torch.Generator,
    padding: int = 4,
    y: torch.Tensor | None = None,
    mode: str = "reflect",
    fill: float | Sequence[float] = 0.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pad each side by `padding` and take a random crop of the original size, per sample.

    Equivalent to padding with F.pad and cropping at a random offset, but done as one gather with
    per-sample index grids, so no padded copy of the batch is made. `mode` is "reflect" (mirror
    the border, as F.pad's reflect) or "constant" (pad with `fill`, a value in the normalised
    space, scalar or per channel; masks are padded with 0, background)."""
    if mode not in ("reflect", "constant"):
        raise ValueError(f"mode must be 'reflect' or 'constant', not {mode!r}")
    n, _, h, w = x.shape
    if padding <= 0:
        return x, y
    if mode == "reflect" and padding >= min(h, w):
        raise ValueError("reflect padding must be smaller than the image")
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator).to(x.device)
    rows = offsets[:, :1] - padding + torch.arange(h, device=x.device)  # (N, H): source row per output row
    cols = offsets[:, 1:] - padding + torch.arange(w, device=x.device)  # (N, W)
    inside = None
    if mode == "reflect":
        rows, cols = _reflect(rows, h), _reflect(cols, w)
    else:
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (N, H, W)
        rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    rows, cols = rows[:, :, None], cols[:, None, :]
    out = x[batch, :, rows, cols].permute(0, 3, 1, 2)  # advanced indexing puts (N, H, W) first, then C
    if inside is not None:
        out = torch.where(inside[:, None], out, _per_channel(fill, x))
    out = _same_format(out, x)
    if _is_mask(x, y):
        y = y[batch, rows, cols]
        if inside is not None:
            y = torch.where(inside, y, torch.zeros((), dtype=y.dtype, device=y.device))
    return out, y


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    degrees: float = 0.0,
    translate: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    y: torch.Tensor | None = None,
    padding_mode: str = "zeros",
    fill: float | Sequence[float] = 0.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rotate by up to ±`degrees`, shift by up to ±`translate` of the size and zoom by a factor
    in `scale`, per sample, with one F.affine_grid + F.grid_sample over the batch.

    `padding_mode` is grid_sample's ("zeros", "border" or "reflection"); with "zeros", the area
    brought in from outside is `fill` (in the normalised space, scalar or per channel: for MNIST
    the background's value, so that shifted digits keep a black surround). Images are sampled
    bilinearly, masks with nearest neighbour (their outside is 0, background)."""
    n = len(x)
    angle = _uniform(generator, n, -degrees, degrees, x) * (math.pi / 180.0)
    zoom = _uniform(generator, n, scale[0], scale[1], x)
    shift = _uniform(generator, 2 * n, -translate, translate, x).view(n, 2) * 2.0  # grid coordinates span 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps each output position to the input position it samples from.
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], dim=1), torch.stack([sin, cos, shift[:, 1]], dim=1)], dim=1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if padding_mode == "zeros":
        offset = _per_channel(fill, x)
        out = F.grid_sample(x - offset, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + offset
    else:
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    if _is_mask(x, y):
        sampled = F.grid_sample(
            y[:, None].to(grid.dtype), grid, mode="nearest", padding_mode=padding_mode, align_corners=False
        )
        y = sampled[:, 0].round().to(y.dtype)
    return _same_format(out, x), y


def colour_jitter(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """Scale brightness, contrast and saturation by random factors in [1 - v, 1 + v], per sample,
    as torchvision's ColorJitter does (in that fixed order), on the whole batch.

    `x` is normalised with `mean`/`std` (per channel): it is mapped back to 0..1 pixel values,
    jittered, clipped to 0..1 and normalised again. Saturation needs 3 channels (skipped otherwise)."""
    n, channels = x.shape[:2]
    mean_t = _per_channel(mean if mean is not None else 0.0, x)
    std_t = _per_channel(std if std is not None else 1.0, x)
    pixels = x * std_t + mean_t
    factors = {
        name: _uniform(generator, n, max(0.0, 1.0 - amount), 1.0 + amount, x).view(n, 1, 1, 1)
        for name, amount in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation))
    }

    def grey(images: torch.Tensor) -> torch.Tensor:  # (N, 1, H, W) luminance (ITU-R 601, as torchvision)
        if channels != 3:
            return images.mean(dim=1, keepdim=True)
        r, g, b = images.unbind(dim=1)
        return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)

    if brightness > 0:
        pixels = (pixels * factors["brightness"]).clamp(0.0, 1.0)
    if contrast > 0:
        level = grey(pixels).mean(dim=(1, 2, 3), keepdim=True)
        pixels = ((pixels - level) * factors["contrast"] + level).clamp(0.0, 1.0)
    if saturation > 0 and channels == 3:
        level = grey(pixels)
        pixels = ((pixels - level) * factors["saturation"] + level).clamp(0.0, 1.0)
    return _same_format((pixels - mean_t) / std_t, x)


def augment_flips(x, y, options, generator):
    """A dataset's `augment` (the registry's signature): mirror each image, and its mask when `y`
    holds masks, together with probability 1/2 (the segmentation sets use it)."""
    return random_hflip(x, generator, y)


def normalise_by_train(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both splits scaled by the training images' mean and std (no statistics from the test set;
    the validation split the engine holds out of the training images later is among them)."""
    mean, std = x_train.mean(), x_train.std().clamp_min(1e-6)
    return (x_train - mean) / std, (x_test - mean) / std
