"""`TrainSpec`: the whole recipe of a run, validated at the door, stored with the run,
handed to the engine, shown in the UI and used to clone the run.

Model, dataset, optimizer and scheduler are each an object whose `name` picks the entry and
whose other fields are that entry's options (a plain string is shorthand for all defaults):

    {"model": {"name": "mlp", "hidden_sizes": [128, 64]}, "dataset": "synthetic_mnist",
     "optimizer": {"name": "sgd", "momentum": 0.9}, "learning_rate": 0.1, "epochs": 30, "batch_size": 64}
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from worker.datasets import DATASETS
from worker.engine.optim import OptimizerSpec, SchedulerSpec
from worker.zoo import MODELS

ModelSpec = Annotated[Union[tuple(entry.options for entry in MODELS.values())], Field(discriminator="name")]
DatasetSpec = Annotated[Union[tuple(entry.options for entry in DATASETS.values())], Field(discriminator="name")]

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d{1,2}|mps)$")


def _name_shorthand(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


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

    @field_validator("model", "dataset", "optimizer", "scheduler", mode="before")
    @classmethod
    def _accept_bare_name(cls, value: Any) -> Any:
        return _name_shorthand(value)

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError("device must be auto, cpu, cuda, cuda:N or mps")
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
        return value


    @property
    def input_shape(self) -> tuple[int, ...]:
        return DATASETS[self.dataset.name].input_shape

    @property
    def num_classes(self) -> int:
        return DATASETS[self.dataset.name].num_classes
