"""The model zoo: one file per model family, all registered in `registry.MODELS`."""

from worker.zoo import mlp  # noqa: F401  (registers)
from worker.zoo.registry import MODELS, ModelEntry, ModelOptions, get_model, register_model

__all__ = ["MODELS", "ModelEntry", "ModelOptions", "get_model", "register_model"]
