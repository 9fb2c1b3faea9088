"""Seeding and the environment facts a run records so its result says how it was made."""

from __future__ import annotations

import functools
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@functools.cache
def project_commit() -> str | None:
    """The git commit of the trainboard checkout this code runs from, if it is one."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def environment_info(device: torch.device) -> dict[str, str | None]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    return {
        "device": str(device),
        "device_name": name,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "git_commit": project_commit(),
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
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"spec asks for device {requested!r} but this worker has no Apple GPU (mps)")
    return device
