"""The optimizers and learning-rate schedules a `TrainSpec` can name, each with its typed
options. Part of the contract: the API validates them, the engine builds from them."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


WeightDecay = Annotated[float, Field(default=0.0, ge=0.0, le=1.0, description="L2 penalty")]
Beta = Annotated[float, Field(ge=0.0, lt=1.0)]


class SgdOptions(_Options):
    name: Literal["sgd"] = "sgd"
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: WeightDecay = 0.0


class AdamOptions(_Options):
    name: Literal["adam"] = "adam"
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    eps: float = Field(default=1e-8, gt=0.0, le=1.0)
    weight_decay: WeightDecay = 0.0


class AdamWOptions(_Options):
    name: Literal["adamw"] = "adamw"
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    eps: float = Field(default=1e-8, gt=0.0, le=1.0)
    weight_decay: WeightDecay = 0.01


class RmspropOptions(_Options):
    name: Literal["rmsprop"] = "rmsprop"
    alpha: float = Field(default=0.99, gt=0.0, lt=1.0)
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)
    weight_decay: WeightDecay = 0.0


class AdagradOptions(_Options):
    name: Literal["adagrad"] = "adagrad"
    weight_decay: WeightDecay = 0.0


OPTIMIZERS: dict[str, type[_Options]] = {
    o.model_fields["name"].default: o for o in (SgdOptions, AdamOptions, AdamWOptions, RmspropOptions, AdagradOptions)
}
OptimizerSpec = Annotated[
    Union[SgdOptions, AdamOptions, AdamWOptions, RmspropOptions, AdagradOptions], Field(discriminator="name")
]


Warmup = Annotated[int, Field(default=0, ge=0, le=10_000, description="Epochs of linear warm-up from lr/10")]


class ConstantSchedule(_Options):
    name: Literal["constant"] = "constant"
    warmup_epochs: Warmup = 0


class StepSchedule(_Options):
    name: Literal["step"] = "step"
    step_size: int = Field(default=10, ge=1, le=100_000, description="Epochs between decays")
    gamma: float = Field(default=0.1, gt=0.0, le=1.0)
    warmup_epochs: Warmup = 0


class CosineSchedule(_Options):
    name: Literal["cosine"] = "cosine"
    min_lr_ratio: float = Field(default=0.0, ge=0.0, le=1.0, description="Final lr as a fraction of the initial")
    warmup_epochs: Warmup = 0


class OneCycleSchedule(_Options):
    name: Literal["onecycle"] = "onecycle"
    pct_start: float = Field(default=0.3, gt=0.0, lt=1.0, description="Fraction of training spent rising")
    div_factor: float = Field(default=25.0, ge=1.0, le=1e6)


SCHEDULERS: dict[str, type[_Options]] = {
    o.model_fields["name"].default: o for o in (ConstantSchedule, StepSchedule, CosineSchedule, OneCycleSchedule)
}
SchedulerSpec = Annotated[
    Union[ConstantSchedule, StepSchedule, CosineSchedule, OneCycleSchedule], Field(discriminator="name")
]
