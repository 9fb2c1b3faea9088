"""`TrainSpec`: the whole recipe of a run, validated at the door, stored with the run,
handed to the engine, shown in the UI and used to clone the run.

Model, dataset, optimizer and scheduler are each an object whose `name` picks the entry and
whose other fields are that entry's options (a plain string is shorthand for all defaults):

    {"model": {"name": "mlp", "hidden_sizes": [128, 64]}, "dataset": "synthetic_mnist",
     "optimizer": {"name": "sgd", "momentum": 0.9}, "learning_rate": 0.1, "epochs": 30, "batch_size": 64}
"""

from __future__ import annotations

import functools
import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from worker.datasets import DATASETS
from worker.engine.optim import OptimizerSpec, SchedulerSpec
from worker.zoo import MODELS

ModelSpec = Annotated[Union[tuple(entry.options for entry in MODELS.values())], Field(discriminator="name")]
DatasetSpec = Annotated[Union[tuple(entry.options for entry in DATASETS.values())], Field(discriminator="name")]

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d{1,2}|mps)$")


def _name_shorthand(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


METRICS_BY_TASK = {
    "classification": ("train_loss", "test_loss", "test_accuracy", "test_balanced_accuracy"),
    "segmentation": ("train_loss", "test_loss", "test_dice", "test_iou"),
}


class EarlyStopping(BaseModel):
    """Stop when `metric` has not improved by more than `min_delta` for `patience` epochs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    metric: str = Field(default="test_loss", description="A metric the run reports, e.g. test_loss or test_accuracy")
    patience: int = Field(default=10, ge=1, le=10_000)
    min_delta: float = Field(default=0.0, ge=0.0, le=1e6)


@functools.lru_cache(maxsize=1024)
def _model_misfit(model_json: str, input_shape: tuple[int, ...], num_classes: int) -> str | None:
    """Why the model cannot be built for these inputs (too small for its poolings...), or None.
    Built on the meta device: nothing is allocated."""
    import torch

    options = json.loads(model_json)
    entry = MODELS[options["name"]]
    if entry.framework != "torch":
        return None  # the meta device cannot stand in for NumPy's arrays; a NumPy MLP fits any input
    try:
        with torch.device("meta"):
            entry.build(entry.options.model_validate(options), input_shape, num_classes)
    except ValueError as exc:
        return str(exc)
    return None


def _is_numpy(model) -> bool:
    return model is not None and MODELS[model.name].framework == "numpy"


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: ModelSpec = Field(description="Model family and its options")
    dataset: DatasetSpec = Field(description="Dataset and its options")
    optimizer: OptimizerSpec = Field(default_factory=lambda: {"name": "sgd"}, validate_default=True)
    learning_rate: float = Field(gt=0.0, le=10.0, description="Base learning rate")
    scheduler: SchedulerSpec = Field(default_factory=lambda: {"name": "constant"}, validate_default=True)
    epochs: int = Field(ge=1, le=10_000)
    batch_size: int = Field(ge=1, le=65_536)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    device: str = Field(default="auto", description="auto (the worker's GPU, else CPU), cpu, cuda or cuda:N")
    label_smoothing: float = Field(default=0.0, ge=0.0, le=0.5, description="Cross-entropy label smoothing")
    grad_clip_norm: float | None = Field(default=None, gt=0.0, le=1e6, description="Clip the gradient norm to this")
    early_stopping: EarlyStopping | None = Field(default=None, description="Stop when a metric stops improving")
    deterministic: bool = Field(default=False, description="Deterministic algorithms only (slower on GPU)")
    channels_last: bool = Field(default=False, description="channels_last memory format (faster convs on GPU)")
    amp: Literal["off", "bf16"] = Field(default="off", description="bf16 autocast for the forward pass")
    tta: bool = Field(default=False, description="Test-time augmentation (mirror) when the dataset allows it")

    @field_validator("model", "dataset", "optimizer", "scheduler", mode="before")
    @classmethod
    def _accept_bare_name(cls, value: Any) -> Any:
        return _name_shorthand(value)

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str, info) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError("device must be auto, cpu, cuda, cuda:N or mps")
        if _is_numpy(info.data.get("model")) and value not in ("auto", "cpu"):
            raise ValueError(f"model {info.data['model'].name!r} runs on the CPU (NumPy)")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset_fits_model(cls, value, info):
        model = info.data.get("model")
        if model is not None:
            model_task = MODELS[model.name].task
            dataset_task = DATASETS[value.name].task
            if model_task != dataset_task:
                raise ValueError(
                    f"model {model.name!r} is for {model_task} but dataset {value.name!r} is for {dataset_task}"
                )
            shape = DATASETS[value.name].shape_for(value)
            problem = _model_misfit(model.model_dump_json(), tuple(shape), DATASETS[value.name].num_classes)
            if problem:
                raise ValueError(f"model {model.name!r} cannot take this dataset's {'x'.join(map(str, shape))} "
                                 f"inputs: {problem}")
        return value

    @field_validator("optimizer")
    @classmethod
    def _numpy_models_use_sgd(cls, value, info):
        if _is_numpy(info.data.get("model")) and value.name != "sgd":
            raise ValueError(f"model {info.data['model'].name!r} is trained by hand-written SGD only")
        return value

    @field_validator("label_smoothing", "grad_clip_norm", "channels_last", "amp")
    @classmethod
    def _torch_only_options(cls, value, info):
        if _is_numpy(info.data.get("model")) and value not in (0.0, None, False, "off"):
            raise ValueError(f"not available for model {info.data['model'].name!r} (NumPy)")
        return value

    @field_validator("early_stopping")
    @classmethod
    def _known_metric(cls, value, info):
        dataset = info.data.get("dataset")
        if value is not None and dataset is not None:
            known = METRICS_BY_TASK[DATASETS[dataset.name].task]
            if value.metric not in known:
                raise ValueError(f"early_stopping.metric must be one of {', '.join(known)}")
        return value

    @property
    def task(self) -> str:
        return DATASETS[self.dataset.name].task

    @property
    def selection_metric(self) -> str:
        """The metric the best checkpoint is chosen by."""
        if self.early_stopping is not None:
            return self.early_stopping.metric
        return "test_accuracy" if self.task == "classification" else "test_dice"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return DATASETS[self.dataset.name].shape_for(self.dataset)

    @property
    def num_classes(self) -> int:
        return DATASETS[self.dataset.name].num_classes
