"""Which way each metric improves: shared by the engine (best checkpoint, early stopping), the
store (best value of each metric) and the statistics (ranking)."""

from __future__ import annotations

LOWER_IS_BETTER = {"train_loss", "test_loss", "epoch_seconds", "peak_memory_mb"}
NO_DIRECTION = {"lr"}


def direction(name: str) -> str | None:
    """'min', 'max', or None for metrics that are settings rather than results (lr)."""
    if name in NO_DIRECTION:
        return None
    if name in LOWER_IS_BETTER or name.endswith(("loss", "_seconds", "error")):
        return "min"
    return "max"


def improved(name: str, new: float, old: float | None, min_delta: float = 0.0) -> bool:
    if old is None:
        return True
    return new < old - min_delta if direction(name) == "min" else new > old + min_delta
