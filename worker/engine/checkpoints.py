"""Checkpoints: `last.pt` after every epoch and `best.pt` when the selection metric improves,
each written atomically (a temporary file, then a rename), with the spec inside. Loaded with
`weights_only=True`, so a checkpoint cannot run code."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"
BEST = "best.pt"


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """The previous file stays intact unless the new one is completely written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_last(directory: Path | None) -> dict[str, Any] | None:
    if directory is None or not (directory / LAST).exists():
        return None
    return load(directory / LAST)
