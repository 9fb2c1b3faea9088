"""Seeding and the environment facts a run records so its result says how it was made."""

from __future__ import annotations

import platform
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def environment_info(device: torch.device) -> dict[str, str | None]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    return {
        "device": str(device),
        "device_name": name,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
        "python_version": platform.python_version(),
    }


def resolve_device(requested: str, assigned: str | None = None) -> torch.device:
    """`auto` takes the device the worker assigned to this process, else a GPU if any, else the CPU."""
    if requested == "auto":
        if assigned:
            return torch.device(assigned)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"spec asks for device {requested!r} but this worker has no CUDA GPU")
    return device
