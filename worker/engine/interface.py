"""What the training loops promise their caller: the callback they report to, their result,
and the two ways a run ends early."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class EngineCallback(Protocol):
    def on_start(self, info: dict) -> None:
        """Called once the model and data are ready, with device and version facts."""

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called after each finished epoch (1-based) with that epoch's metrics."""

    def on_artifact(self, name: str, content: bytes, media_type: str) -> None:
        """Called with files worth keeping, e.g. segmentation overlays (PNG)."""

    def on_checkpoint(self, name: str, path: Path) -> None:
        """Optional: called after checkpoint `name` (last.pt, best.pt) is saved at `path`, before the
        epoch is reported; a worker copies it to the API's store there."""

    def should_stop(self) -> bool:
        """Polled at every batch boundary; True cancels the run there."""


class TrainingCancelled(Exception):
    def __init__(self, epoch: int):
        super().__init__(f"cancelled during epoch {epoch}")
        self.epoch = epoch


class TrainingDiverged(Exception):
    def __init__(self, epoch: int):
        super().__init__(f"diverged at epoch {epoch}: the training loss is not finite")
        self.epoch = epoch


@dataclass
class TrainResult:
    epochs_completed: int
    stopped_early: bool = False
    final_metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None


class CheckpointFailed(Exception):
    """A checkpoint could not be written (disk full, folder not writable); the previous one is intact."""

    def __init__(self, epoch: int, path, error: OSError):
        super().__init__(
            f"could not save the checkpoint of epoch {epoch} to {path}: {error.strerror or error}; "
            "the previous checkpoint is kept"
        )
        self.epoch = epoch
