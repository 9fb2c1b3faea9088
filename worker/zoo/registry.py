"""Model registry: each model family registers its options (a pydantic model) and a builder.

The options class doubles as the model's part of the `TrainSpec` (its `name` field is the
discriminator) and as its entry in `GET /catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

Task = Literal["classification", "segmentation"]


class ModelOptions(BaseModel):
    """Base of every model's options; unknown options are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str


@dataclass(frozen=True)
class ModelEntry:
    name: str
    options: type[ModelOptions]
    build: Callable[[Any, tuple[int, ...], int], Any]  # (options, input_shape, num_classes) -> model
    task: Task
    framework: Literal["torch", "numpy"]
    description: str
    # (options, input_shape, num_classes) -> (parameters, MACs per sample), for models that cannot
    # be sized on torch's meta device (NumPy models would allocate their weights).
    size: Callable[[Any, tuple[int, ...], int], tuple[int, int]] | None = None


MODELS: dict[str, ModelEntry] = {}


def register_model(
    *, options: type[ModelOptions], task: Task, description: str, framework: str = "torch", size=None
):
    """Decorator for a builder `build(options, input_shape, num_classes)`."""

    def decorator(build):
        name = options.model_fields["name"].default
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        MODELS[name] = ModelEntry(name, options, build, task, framework, description, size)
        return build

    return decorator


def get_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options: Any):
    """Build model `name` for inputs of `input_shape` (C, H, W) and `num_classes` outputs."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    entry = MODELS[name]
    opts = entry.options.model_validate({"name": name, **options})
    return entry.build(opts, tuple(input_shape), num_classes)
