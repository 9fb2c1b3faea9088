"""Which device this worker process trains on: one run at a time per GPU.

A worker started with N visible GPUs runs N pool processes; process i trains on GPU i.
Without a GPU the process trains on the CPU.
"""

from __future__ import annotations

import functools

_assigned: str | None = None


@functools.cache
def gpu_count() -> int:
    """The GPUs this worker has, counted once, before Celery forks its pool: without torch, so
    that nothing touches CUDA in the parent (a forked pool process could not use it then): the
    count `trainboard worker` sizes its pool by."""
    from backend.cli.supervisor import visible_gpu_count

    return visible_gpu_count()


@functools.cache
def has_mps() -> bool:
    """Whether this worker trains on Apple silicon's GPU (`device: mps`); asking does not touch CUDA."""
    import torch

    return bool(torch.backends.mps.is_available())


def assign_device(process_index: int) -> str:
    import torch

    global _assigned
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count:
        _assigned = f"cuda:{process_index % count}"
        torch.cuda.set_device(_assigned)
    else:
        _assigned = "cpu"
    return _assigned


def assigned_device() -> str | None:
    return _assigned
