"""`TrainSpec`: the whole recipe of a run, validated at the door, stored with the run, handed to
the engine, shown in the UI and used to clone the run.

Model, dataset, optimizer and scheduler are each an object whose `name` picks the entry and
whose other fields are that entry's options (a plain string is shorthand for all defaults):

    {"model": {"name": "mlp", "hidden_sizes": [128, 64]}, "dataset": "synthetic_mnist",
     "optimizer": {"name": "sgd", "momentum": 0.9}, "learning_rate": 0.1, "epochs": 30, "batch_size": 64}

Optimizers and schedulers are the contract's own (`trainboard.options`). Models and datasets are
whatever the workers offer: here they are a name plus options, checked against the schemas the
workers publish (`trainboard.catalog.check_spec`) and, on the worker, against the options class
itself (`worker.engine.spec.EngineSpec`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trainboard.options import OptimizerSpec, SchedulerSpec
from trainboard.spec_paths import name_shorthand

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d{1,2}|mps)$")

METRICS_BY_TASK = {
    "classification": ("train_loss", "test_loss", "test_accuracy", "test_balanced_accuracy"),
    "segmentation": ("train_loss", "test_loss", "test_dice", "test_iou"),
}
SELECTION_METRIC_BY_TASK = {"classification": "test_accuracy", "segmentation": "test_dice"}


class EntryChoice(BaseModel):
    """A model or dataset: its name and its options (checked against the entry's published schema)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class EarlyStopping(BaseModel):
    """Stop when `metric` has not improved by more than `min_delta` for `patience` epochs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    metric: str = Field(default="test_loss", description="A metric the run reports, e.g. test_loss or test_accuracy")
    patience: int = Field(default=10, ge=1, le=10_000)
    min_delta: float = Field(default=0.0, ge=0.0, le=1e6)


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: EntryChoice = Field(description="Model and its options, as a worker offers it in /catalog")
    dataset: EntryChoice = Field(description="Dataset and its options, as a worker offers it in /catalog")
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
        return name_shorthand(value)

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError("device must be auto, cpu, cuda, cuda:N or mps")
        return value


def defer_to_catalog_check(value: Any, handler: Any) -> Any:
    """A wrap validator for a request's spec: the spec is documented as a `TrainSpec`, but kept as
    sent, so that `trainboard.catalog.check_spec` reports all of its problems at once (its own
    fields' and its model's and dataset's options'), not the fields' first and the options' later."""
    return value if isinstance(value, dict) else handler(value)


# Options that only the torch engine has: a NumPy model must leave them at these values.
TORCH_ONLY_OPTIONS = {"label_smoothing": 0.0, "grad_clip_norm": None, "channels_last": False, "amp": "off"}


def rule_problems(spec: TrainSpec, *, model_task: str, framework: str, dataset_task: str) -> list[dict[str, Any]]:
    """What a spec asks that its model and dataset cannot do together, as 422 items (`loc` inside
    the spec). The same rules on the API (from the published catalog) and on the worker."""
    problems = []

    def problem(loc: tuple, msg: str) -> None:
        problems.append({"type": "value_error", "loc": list(loc), "msg": msg})

    model, dataset = spec.model.name, spec.dataset.name
    if model_task != dataset_task:
        problem(("dataset",), f"model {model!r} is for {model_task} but dataset {dataset!r} is for {dataset_task}")
    if framework == "numpy":
        if spec.device not in ("auto", "cpu"):
            problem(("device",), f"model {model!r} runs on the CPU (NumPy)")
        if spec.optimizer.name != "sgd":
            problem(("optimizer",), f"model {model!r} is trained by hand-written SGD only")
        for name, allowed in TORCH_ONLY_OPTIONS.items():
            if getattr(spec, name) != allowed:
                problem((name,), f"not available for model {model!r} (NumPy)")
    if spec.early_stopping is not None and dataset_task in METRICS_BY_TASK:
        known = METRICS_BY_TASK[dataset_task]
        if spec.early_stopping.metric not in known:
            problem(("early_stopping", "metric"), f"early_stopping.metric must be one of {', '.join(known)}")
    return problems


def selection_metric(spec: TrainSpec, task: str | None) -> str:
    """The metric the best checkpoint is chosen by: the early-stopping metric, else the task's score."""
    if spec.early_stopping is not None:
        return spec.early_stopping.metric
    return SELECTION_METRIC_BY_TASK.get(task or "classification", "test_accuracy")
