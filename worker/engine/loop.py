"""The training loop: `train(spec, callback)` trains a spec's model on its dataset and reports each epoch.

The whole dataset is held as tensors on the training device and batched by index there, so no
per-sample Python runs in the hot loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from worker.datasets import load_dataset
from worker.engine.optim import build_optimizer, lr_factor
from worker.engine.reproducibility import environment_info, resolve_device, seed_everything
from worker.engine.spec import TrainSpec
from worker.zoo import MODELS


class EngineCallback(Protocol):
    def on_start(self, info: dict) -> None:
        """Called once the model and data are ready, with device and version facts."""

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called after each finished epoch (1-based) with that epoch's metrics."""

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
    final_metrics: dict[str, float] = field(default_factory=dict)


def train(
    spec: TrainSpec,
    callback: EngineCallback,
    *,
    data_dir: Path,
    assigned_device: str | None = None,
) -> TrainResult:
    device = resolve_device(spec.device, assigned_device)
    seed_everything(spec.seed)
    splits = load_dataset(spec.dataset, data_dir, spec.seed)
    x_train, y_train = splits.x_train.to(device), splits.y_train.to(device)
    x_test, y_test = splits.x_test.to(device), splits.y_test.to(device)

    model = MODELS[spec.model.name].build(spec.model, spec.input_shape, splits.num_classes).to(device)
    optimizer = build_optimizer(spec.optimizer, model.parameters(), spec.learning_rate)
    callback.on_start(environment_info(device))

    generator = torch.Generator(device="cpu").manual_seed(spec.seed)
    steps_per_epoch = math.ceil(len(x_train) / spec.batch_size)
    metrics: dict[str, float] = {}
    for epoch in range(1, spec.epochs + 1):
        started = time.perf_counter()
        train_loss, lr = train_one_epoch(
            model, optimizer, x_train, y_train, spec, epoch, steps_per_epoch, generator, callback
        )
        if not math.isfinite(train_loss):
            raise TrainingDiverged(epoch)
        test_loss, test_accuracy = evaluate(model, x_test, y_test, spec.batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
        metrics = {
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "lr": lr,
            "epoch_seconds": seconds,
            "samples_per_second": len(x_train) / seconds if seconds > 0 else float("nan"),
        }
        callback.on_epoch(epoch, metrics)
    return TrainResult(spec.epochs, metrics)


def train_one_epoch(model, optimizer, x, y, spec: TrainSpec, epoch, steps_per_epoch, generator, callback):
    """One pass over the training tensors in a fresh random order; returns (mean loss, last lr)."""
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    total_loss = torch.zeros((), device=x.device)
    lr = spec.learning_rate
    for step in range(steps_per_epoch):
        if callback.should_stop():
            raise TrainingCancelled(epoch)
        lr = spec.learning_rate * lr_factor(spec.scheduler, epoch - 1 + step / steps_per_epoch, spec.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = order[step * spec.batch_size : (step + 1) * spec.batch_size]
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach() * len(index)
    return (total_loss / len(x)).item(), lr


def evaluate(model, x, y, batch_size: int) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over the given tensors."""
    model.eval()
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    eval_batch = max(batch_size, 1024)
    with torch.inference_mode():
        for start in range(0, len(x), eval_batch):
            logits = model(x[start : start + eval_batch])
            target = y[start : start + eval_batch]
            total_loss += F.cross_entropy(logits, target, reduction="sum")
            correct += (logits.argmax(dim=1) == target).sum()
    return (total_loss / len(x)).item(), (correct.float() / len(x)).item()
