"""Optimizers and learning-rate schedules of the torch engine, built from their options (the
option classes are the contract's: `trainboard.spec`)."""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel


def build_optimizer(options: BaseModel, params, learning_rate: float) -> torch.optim.Optimizer:
    kwargs = options.model_dump(exclude={"name"})
    if options.name == "sgd":
        if kwargs["nesterov"] and kwargs["momentum"] == 0:
            kwargs["nesterov"] = False  # torch refuses Nesterov without momentum
        return torch.optim.SGD(params, lr=learning_rate, **kwargs)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
           "adagrad": torch.optim.Adagrad}[options.name]
    return cls(params, lr=learning_rate, **kwargs)


def lr_factor(options: BaseModel, epoch_progress: float, total_epochs: int) -> float:
    """Multiplier of the base learning rate at `epoch_progress` (epochs done, fractional)."""
    t = epoch_progress
    if options.name == "onecycle":
        rise = options.pct_start * total_epochs
        low = 1.0 / options.div_factor
        if t < rise:
            return low + (1.0 - low) * t / rise
        fall = max(total_epochs - rise, 1e-9)
        return low / 1e4 + (1.0 - low / 1e4) * 0.5 * (1 + math.cos(math.pi * min(1.0, (t - rise) / fall)))
    warmup = options.warmup_epochs
    if warmup and t < warmup:
        return 0.1 + 0.9 * t / warmup
    if options.name == "constant":
        return 1.0
    if options.name == "step":
        return options.gamma ** int((t - warmup) // options.step_size)
    if options.name == "cosine":
        span = max(total_epochs - warmup, 1e-9)
        progress = min(1.0, (t - warmup) / span)
        return options.min_lr_ratio + (1 - options.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown scheduler {options.name!r}")
