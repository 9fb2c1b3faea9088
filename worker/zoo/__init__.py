"""The built-in model zoo: one file per model family, each registered through the plugin API
(`trainboard.plugins.register_model`), like a user's plugin. Importing this package registers them;
the worker does it through the `trainboard.models` entry point."""

from typing import Any

from trainboard.plugins import MODELS
from worker.zoo import mlp  # noqa: F401  (registers)
from worker.zoo import mlp_numpy  # noqa: F401  (registers)
from worker.zoo import convnet  # noqa: F401  (registers)
from worker.zoo import vgg  # noqa: F401  (registers)
from worker.zoo import resnet  # noqa: F401  (registers)
from worker.zoo import traffic_sign  # noqa: F401  (registers)
from worker.zoo import unet  # noqa: F401  (registers)


def get_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options: Any):
    """Build model `name` for inputs of `input_shape` (C, H, W) and `num_classes` outputs."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    entry = MODELS[name]
    opts = entry.options.model_validate({"name": name, **options})
    return entry.build(opts, tuple(input_shape), num_classes)


__all__ = ["MODELS", "get_model"]
