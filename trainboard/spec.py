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

# What the engine measures on each split, by task. Segmentation reports Dice and IoU twice: the
# mean over images (`dice`, `iou`: what papers report) and pooled over every pixel of the split
# (`dice_pooled`, `iou_pooled`).
SPLIT_METRICS_BY_TASK = {
    "classification": ("loss", "accuracy", "balanced_accuracy"),
    "segmentation": ("loss", "dice", "iou", "dice_pooled", "iou_pooled"),
}
# val_*: the validation split held out of the training set; test_*: the test set; train_eval_*:
# the training set measured in eval mode at the epoch's end (with `eval_train`).
SPLITS = ("val", "test", "train_eval")
METRICS_BY_TASK = {
    task: ("train_loss", *(f"{split}_{name}" for split in SPLITS for name in names))
    for task, names in SPLIT_METRICS_BY_TASK.items()
}
SCORE_BY_TASK = {"classification": "accuracy", "segmentation": "dice"}


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
    metric: str | None = Field(
        default=None, max_length=100,
        description="A metric the run reports, e.g. val_loss or val_accuracy; default val_loss (test_loss when "
        "val_fraction is 0)",
    )
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
    val_fraction: float = Field(
        default=0.1, ge=0.0, le=0.5,
        description="Share of the training set held out for validation: the best epoch, the best checkpoint and "
        "early stopping watch it. 0 holds none out: then they watch the test set, and every view says so",
    )
    split_seed: int = Field(
        default=0, ge=0, le=2**32 - 1,
        description="Seed of the validation (and, where a dataset draws one, test) split and of synthetic data; "
        "apart from `seed`, so that every seed of a study is measured on the same data",
    )
    selection_metric: str | None = Field(
        default=None, max_length=100,
        description="Metric the best epoch and best checkpoint are chosen by; default val_accuracy (val_dice "
        "for segmentation), test_* when val_fraction is 0",
    )
    eval_train: bool = Field(
        default=False,
        description="Also measure the training set in eval mode at each epoch's end (train_eval_loss, "
        "train_eval_accuracy...), as the test set is, for a like-for-like train-vs-test plot",
    )

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
    if dataset_task in METRICS_BY_TASK:
        watched = [(("selection_metric",), spec.selection_metric)]
        if spec.early_stopping is not None:
            watched.append((("early_stopping", "metric"), early_stopping_metric(spec)))
        for loc, metric in watched:
            if metric is None:
                continue
            known = reported_metrics(spec, dataset_task)
            if metric not in known:
                why = " (val_* needs val_fraction > 0)" if metric in METRICS_BY_TASK[dataset_task] else ""
                problem(loc, f"{'.'.join(loc)} must be one of {', '.join(known)}{why}")
    return problems


def reported_metrics(spec: TrainSpec, task: str) -> tuple[str, ...]:
    """The metrics a run of this spec reports each epoch (besides lr, times and memory)."""
    names = SPLIT_METRICS_BY_TASK[task]
    splits = [s for s in SPLITS if (s != "val" or spec.val_fraction > 0) and (s != "train_eval" or spec.eval_train)]
    return ("train_loss", *(f"{split}_{name}" for split in splits for name in names))


def selection_metric(spec: TrainSpec, task: str | None) -> str:
    """The metric the best epoch and best checkpoint are chosen by: the spec's `selection_metric`,
    else the task's score on the validation split (on the test set when none is held out)."""
    if spec.selection_metric is not None:
        return spec.selection_metric
    split = "val" if spec.val_fraction > 0 else "test"
    return f"{split}_{SCORE_BY_TASK.get(task or 'classification', 'accuracy')}"


def early_stopping_metric(spec: TrainSpec) -> str | None:
    """The metric early stopping watches: the rule's, else the validation loss (the test loss when
    no validation split is held out); None without early stopping."""
    if spec.early_stopping is None:
        return None
    return spec.early_stopping.metric or ("val_loss" if spec.val_fraction > 0 else "test_loss")


def selected_on_test(metric: str) -> bool:
    """True when choosing an epoch by `metric` looks at the test set: its value there is optimistic."""
    return metric.startswith("test_")
