"""Segmentation prediction overlays: for a few test images, the image, the true mask and the
predicted mask side by side, as one PNG."""

from __future__ import annotations

import io

import torch
from PIL import Image

MASK_COLOUR = torch.tensor([255, 64, 64], dtype=torch.float32).view(3, 1, 1)


def _to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) normalised floats -> (3, H, W) floats in 0..255, contrast stretched."""
    grey = image.float().mean(dim=0, keepdim=True) if image.shape[0] != 3 else image.float()
    low, high = grey.min(), grey.max()
    scaled = (grey - low) / (high - low).clamp(min=1e-6) * 255
    return scaled.expand(3, -1, -1)


def _tint(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    alpha = (mask > 0).float().unsqueeze(0) * 0.45
    return rgb * (1 - alpha) + MASK_COLOUR * alpha


def overlay_png(images: torch.Tensor, true_masks: torch.Tensor, predicted_masks: torch.Tensor) -> bytes:
    """One row per sample: image | true mask | predicted mask (masks tinted red over the image)."""
    rows = []
    for image, true_mask, predicted in zip(images.cpu(), true_masks.cpu(), predicted_masks.cpu(), strict=True):
        rgb = _to_rgb(image)
        rows.append(torch.cat([rgb, _tint(rgb, true_mask), _tint(rgb, predicted)], dim=2))
    grid = torch.cat(rows, dim=1).round().clamp(0, 255).to(torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy(), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()
