"""Bookkeeping across epochs, shared by the torch and NumPy loops and saved in checkpoints:
the epochs done with their metrics, the best value of the selection metric, early stopping."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from worker.engine import checkpoints
from worker.engine.interface import CheckpointFailed
from trainboard.metrics import improved
from trainboard.spec import early_stopping_metric
from worker.engine.spec import EngineSpec


@dataclass
class Progress:
    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # metrics of epochs 1..epoch
    best_value: float | None = None
    best_epoch: int | None = None
    early_best: float | None = None
    epochs_without_improvement: int = 0

    def record(self, spec: EngineSpec, epoch: int, metrics: dict[str, float]) -> bool:
        """Add an epoch's metrics; True when it is the best so far by the selection metric."""
        self.epoch = epoch
        self.history.append(dict(metrics))
        if spec.early_stopping is not None:
            rule, watched = spec.early_stopping, early_stopping_metric(spec)
            if improved(watched, metrics[watched], self.early_best, rule.min_delta):
                self.early_best, self.epochs_without_improvement = metrics[watched], 0
            else:
                self.epochs_without_improvement += 1
        name = spec.selects_by
        if improved(name, metrics[name], self.best_value):
            self.best_value, self.best_epoch = metrics[name], epoch
            return True
        return False

    def stop_early(self, spec: EngineSpec) -> bool:
        rule = spec.early_stopping
        return rule is not None and self.epochs_without_improvement >= rule.patience

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Progress:
        return cls(**state)


def epoch_metrics(train_loss: float, measured: dict[str, float], *, lr: float, seconds: float,
                  train_seconds: float, samples: int, peak_memory_mb: float) -> dict[str, float]:
    """An epoch's report: `train_loss`, the running mean of the training batches' losses (train
    mode, augmented); the `measured` splits' metrics (val_*, test_*, train_eval_*); `lr`, the mean
    learning rate over the epoch's steps (a schedule changes it at every step); the epoch's time,
    training throughput and peak memory."""
    return {
        "train_loss": train_loss,
        **measured,
        "lr": lr,
        "epoch_seconds": seconds,
        "samples_per_second": samples / train_seconds if train_seconds > 0 else float("nan"),
        "peak_memory_mb": peak_memory_mb,
    }


def replay(progress: Progress, callback) -> None:
    """Report a resumed run's finished epochs again: the store ignores what it already has, and
    gets what a crash kept from it."""
    for epoch, metrics in enumerate(progress.history, start=1):
        callback.on_epoch(epoch, metrics)


def close_epoch(
    spec: EngineSpec,
    progress: Progress,
    epoch: int,
    metrics: dict[str, float],
    callback,
    checkpoint_dir: Path | None,
    training_state: Callable[[], dict[str, Any]],
) -> bool:
    """Record the epoch, checkpoint it (last, and best when it is; each handed to the callback's
    `on_checkpoint`), then report it.
    Returns True when early stopping ends the run here."""
    is_best = progress.record(spec, epoch, metrics)
    if checkpoint_dir is not None:
        state = {"spec": spec.model_dump(mode="json"), "progress": progress.state(), **training_state()}
        for name in (checkpoints.LAST, checkpoints.BEST) if is_best else (checkpoints.LAST,):
            try:
                checkpoints.save_atomic(state, checkpoint_dir / name)
            except OSError as exc:
                callback.on_epoch(epoch, metrics)  # the epoch itself finished: keep its metrics
                raise CheckpointFailed(epoch, checkpoint_dir / name, exc) from exc
            saved = getattr(callback, "on_checkpoint", None)  # optional: callbacks of tests, notebooks
            if saved is not None:
                saved(name, checkpoint_dir / name)
    callback.on_epoch(epoch, metrics)
    return progress.stop_early(spec)
