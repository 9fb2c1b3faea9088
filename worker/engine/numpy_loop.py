"""The training loop for models written from scratch in NumPy (framework "numpy"): the model's
own hand-written forward, backward and SGD update, no autograd. Same data and validation split,
callback, metrics, augmentation, test-time augmentation, checkpoints and resumption as the torch
loop, so NumPy and torch runs compare side by side. The dataset's augmentation runs on torch
tensors on the CPU, with a torch generator seeded from the run's seed, as in the torch loop."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from worker.datasets import DATASETS
from worker.engine import checkpoints
from worker.engine.data import load_run_data
from worker.engine.interface import TrainingCancelled, TrainingDiverged, TrainResult
from worker.engine.metrics import evaluate, peak_memory_mb
from worker.engine.optim import lr_factor
from worker.engine.progress import Progress, close_epoch, epoch_metrics, replay
from worker.engine.reproducibility import environment_info, seed_everything
from worker.engine.spec import EngineSpec
from worker.zoo import MODELS


class _AsTorchModule:
    """Lets the shared `evaluate` call a NumPy model like a torch module (inputs on the CPU)."""

    def __init__(self, model):
        self.model = model

    def eval(self) -> None:
        pass

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.model.predict_logits(x.numpy())))


def _as_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Checkpoints hold tensors, which `weights_only` loading accepts, not NumPy arrays."""
    return {name: torch.from_numpy(np.array(array)) for name, array in arrays.items()}


def train_numpy(spec: EngineSpec, callback, *, data_dir: Path, checkpoint_dir: Path | None = None):
    seed_everything(spec.seed)
    data = load_run_data(spec, data_dir)
    x_train, y_train = data.x_train.float(), data.y_train
    model = MODELS[spec.model.name].build(spec.model, spec.input_shape, data.num_classes)
    rng = np.random.default_rng(spec.seed)
    generator = torch.Generator().manual_seed(spec.seed)  # for the augmentation, as in the torch loop
    progress = Progress()

    saved = checkpoints.load_last(checkpoint_dir)
    if saved is not None:
        model.load_state_dict({name: tensor.numpy() for name, tensor in saved["model"].items()})
        model.load_optimizer_state_dict({name: tensor.numpy() for name, tensor in saved["optimizer"].items()})
        rng.bit_generator.state = saved["numpy_rng"]
        generator.set_state(saved["generator"])
        progress = Progress.from_state(saved["progress"])
    callback.on_start({**environment_info(torch.device("cpu")), **data.sizes(), "framework": "numpy",
                       "resumed_from_epoch": progress.epoch})
    replay(progress, callback)

    dataset = DATASETS[spec.dataset.name]
    augment = dataset.augment if getattr(spec.dataset, "augment", False) else None
    as_torch = _AsTorchModule(model)
    optimizer = spec.optimizer
    steps_per_epoch = math.ceil(len(x_train) / spec.batch_size)
    stopped_early = False
    for epoch in range(progress.epoch + 1, spec.epochs + 1):
        started = time.perf_counter()
        order = rng.permutation(len(x_train))
        total_loss, total_lr = 0.0, 0.0
        for step in range(steps_per_epoch):
            if callback.should_stop():
                raise TrainingCancelled(epoch)
            lr = spec.learning_rate * lr_factor(spec.scheduler, epoch - 1 + step / steps_per_epoch, spec.epochs)
            total_lr += lr
            index = torch.from_numpy(order[step * spec.batch_size : (step + 1) * spec.batch_size])
            inputs, target = x_train[index], y_train[index]
            if augment is not None:
                inputs, target = augment(inputs, target, spec.dataset, generator)
            loss = model.train_step(inputs.numpy(), target.numpy(), lr, momentum=optimizer.momentum,
                                    weight_decay=optimizer.weight_decay, nesterov=optimizer.nesterov)
            total_loss += loss * len(index)
        train_loss, lr = total_loss / len(x_train), total_lr / steps_per_epoch
        if not math.isfinite(train_loss):
            raise TrainingDiverged(epoch)
        train_seconds = time.perf_counter() - started
        measured = {}
        for prefix, x, y in data.measured_splits(spec.eval_train):
            measured |= evaluate(as_torch, x, y, prefix=prefix, task=spec.task, num_classes=data.num_classes,
                                 batch_size=max(spec.batch_size, 256), tta_flip=spec.tta and dataset.flip_invariant)
        seconds = time.perf_counter() - started
        metrics = epoch_metrics(train_loss, measured, lr=lr, seconds=seconds, train_seconds=train_seconds,
                                samples=len(x_train), peak_memory_mb=peak_memory_mb(torch.device("cpu")))
        stop = close_epoch(spec, progress, epoch, metrics, callback, checkpoint_dir, lambda: {
            "model": _as_tensors(model.state_dict()),
            "optimizer": _as_tensors(model.optimizer_state_dict()),
            "numpy_rng": rng.bit_generator.state,
            "generator": generator.get_state(),
        })
        if stop:
            stopped_early = True
            break
    return TrainResult(progress.epoch, stopped_early, progress.history[-1] if progress.history else {},
                       progress.best_epoch)
