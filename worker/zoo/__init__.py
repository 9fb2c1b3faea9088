"""The model zoo: one file per model family, all registered in `registry.MODELS`."""

from worker.zoo import mlp  # noqa: F401  (registers)
from worker.zoo import mlp_numpy  # noqa: F401  (registers)
from worker.zoo import convnet  # noqa: F401  (registers)
from worker.zoo import vgg  # noqa: F401  (registers)
from worker.zoo import resnet  # noqa: F401  (registers)
from worker.zoo import traffic_sign  # noqa: F401  (registers)
from worker.zoo import unet  # noqa: F401  (registers)
from worker.zoo.registry import MODELS, ModelEntry, ModelOptions, get_model, register_model

__all__ = ["MODELS", "ModelEntry", "ModelOptions", "get_model", "register_model"]
