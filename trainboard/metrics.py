"""Which way each metric improves: shared by the engine (best checkpoint, early stopping), the
store (best value of each metric) and the statistics (ranking)."""

from __future__ import annotations

import math

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



def best_epoch(values: dict[int, float | None], name: str) -> int | None:
    """The epoch (key) whose value of metric `name` is best, the first of ties; None without a
    finite value. A run's selected epoch, when `name` is its selection metric."""
    best_value, best = None, None
    for epoch in sorted(values):
        value = values[epoch]
        if value is None or not math.isfinite(value):
            continue
        if improved(name, value, best_value):
            best_value, best = value, epoch
    return best
