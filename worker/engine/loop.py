"""The training loop: `train(spec, callback)` trains a spec's model on its dataset and reports
each epoch. It knows nothing of Celery, HTTP or SQL.

The whole dataset is held as tensors on the training device, batched by index and augmented
there as whole batches, so no per-sample Python runs in the hot loop. The data and their
validation split come from `worker.engine.data`; each epoch measures the validation split, the
test set and, with `eval_train`, the training set. A run with a checkpoint folder resumes from
its last checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from pathlib import Path

import torch

from worker.datasets import DATASETS
from worker.engine import checkpoints
from worker.engine.data import load_run_data
from worker.engine.interface import EngineCallback, TrainingCancelled, TrainingDiverged, TrainResult
from worker.engine.metrics import deterministic_cross_entropy, evaluate, peak_memory_mb
from worker.engine.optim import build_optimizer, lr_factor
from worker.engine.overlays import overlay_png
from worker.engine.progress import Progress, close_epoch, epoch_metrics, replay
from worker.engine.reproducibility import environment_info, resolve_device, seed_everything
from worker.engine.spec import EngineSpec
from worker.zoo import MODELS

OVERLAY_SAMPLES = 4

__all__ = ["EngineCallback", "TrainResult", "TrainingCancelled", "TrainingDiverged", "train"]


def train(
    spec: EngineSpec,
    callback: EngineCallback,
    *,
    data_dir: Path,
    checkpoint_dir: Path | None = None,
    assigned_device: str | None = None,
) -> TrainResult:
    if spec.framework == "numpy":
        from worker.engine.numpy_loop import train_numpy

        return train_numpy(spec, callback, data_dir=data_dir, checkpoint_dir=checkpoint_dir)

    device = resolve_device(spec.device, assigned_device)
    configure_backends(spec, device)
    seed_everything(spec.seed)
    memory_format = torch.channels_last if spec.channels_last else torch.contiguous_format
    data = load_run_data(spec, data_dir).to(device, memory_format)
    x_train, y_train = data.x_train, data.y_train

    model = MODELS[spec.model.name].build(spec.model, spec.input_shape, data.num_classes)
    model = model.to(device, memory_format=memory_format)
    optimizer = build_optimizer(spec.optimizer, model.parameters(), spec.learning_rate)
    generator = torch.Generator(device="cpu").manual_seed(spec.seed)
    progress = Progress()

    saved = checkpoints.load_last(checkpoint_dir)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        progress = Progress.from_state(saved["progress"])
    callback.on_start({**environment_info(device), **data.sizes(), "resumed_from_epoch": progress.epoch})
    replay(progress, callback)

    dataset = DATASETS[spec.dataset.name]
    augment = dataset.augment if getattr(spec.dataset, "augment", False) else None
    autocast = (
        functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)
        if spec.amp == "bf16" else None
    )
    steps_per_epoch = math.ceil(len(x_train) / spec.batch_size)
    stopped_early = False
    for epoch in range(progress.epoch + 1, spec.epochs + 1):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        started = time.perf_counter()
        train_loss, lr = train_one_epoch(
            model, optimizer, x_train, y_train, spec, epoch, steps_per_epoch, generator, callback,
            augment=augment, autocast=autocast,
        )
        if not math.isfinite(train_loss):
            raise TrainingDiverged(epoch)
        train_seconds = time.perf_counter() - started
        measured = {}
        for prefix, x, y in data.measured_splits(spec.eval_train):
            measured |= evaluate(
                model, x, y, prefix=prefix, task=spec.task, num_classes=data.num_classes,
                batch_size=max(spec.batch_size, 256), tta_flip=spec.tta and dataset.flip_invariant, autocast=autocast,
            )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
        metrics = epoch_metrics(train_loss, measured, lr=lr, seconds=seconds, train_seconds=train_seconds,
                                samples=len(x_train), peak_memory_mb=peak_memory_mb(device))
        stop = close_epoch(spec, progress, epoch, metrics, callback, checkpoint_dir, lambda: {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        })
        if spec.task == "segmentation":
            callback.on_artifact(f"overlays/epoch_{epoch:04d}.png",
                                 segmentation_overlay(model, data.x_test, data.y_test), "image/png")
        if stop:
            stopped_early = True
            break
    return TrainResult(progress.epoch, stopped_early, progress.history[-1] if progress.history else {},
                       progress.best_epoch)


def configure_backends(spec: EngineSpec, device: torch.device) -> None:
    """cuDNN autotuning for speed, unless the spec asks for deterministic algorithms."""
    if spec.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by cuBLAS for determinism
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = device.type == "cuda"
        torch.backends.cudnn.deterministic = False
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = not spec.deterministic
        torch.backends.cudnn.allow_tf32 = not spec.deterministic


def train_one_epoch(
    model, optimizer, x, y, spec: EngineSpec, epoch, steps_per_epoch, generator, callback, *, augment, autocast
):
    """One pass over the training tensors in a fresh random order; returns (mean loss, mean lr of its steps)."""
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    total_loss = torch.zeros((), device=x.device)
    total_lr = 0.0
    for step in range(steps_per_epoch):
        if callback.should_stop():
            raise TrainingCancelled(epoch)
        lr = spec.learning_rate * lr_factor(spec.scheduler, epoch - 1 + step / steps_per_epoch, spec.epochs)
        total_lr += lr
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = order[step * spec.batch_size : (step + 1) * spec.batch_size]
        inputs, target = x[index], y[index]
        if augment is not None:
            inputs, target = augment(inputs, target, spec.dataset, generator)
        with autocast() if autocast is not None else contextlib.nullcontext():
            logits = model(inputs)
        loss = deterministic_cross_entropy(logits.float(), target, label_smoothing=spec.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if spec.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip_norm)
        optimizer.step()
        total_loss += loss.detach() * len(index)
    return (total_loss / len(x)).item(), total_lr / steps_per_epoch


def segmentation_overlay(model, x_test: torch.Tensor, y_test: torch.Tensor) -> bytes:
    model.eval()
    with torch.inference_mode():
        images = x_test[:OVERLAY_SAMPLES]
        predicted = model(images).argmax(dim=1)
    return overlay_png(images, y_test[:OVERLAY_SAMPLES], predicted)
