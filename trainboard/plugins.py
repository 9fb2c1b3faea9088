"""The plugin API: how a package adds models and datasets to the workers that install it.

    from trainboard.plugins import ModelOptions, register_model

    class TinyOptions(ModelOptions):
        name: Literal["tiny"] = "tiny"
        width: int = Field(default=32, ge=1, le=4096)

    @register_model(options=TinyOptions, task="classification", description="A tiny CNN")
    def build(options, input_shape, num_classes) -> torch.nn.Module: ...

A dataset's loader `load(options, data_dir, seed)` gets the run's split seed (`split_seed`), not
its training seed: whatever the loader draws (synthetic data, a test split of a set that has
none) must depend on that seed only, so that every seed of a study is measured on the same data.
The engine holds a validation split out of the loader's training set (`val_fraction`, by the same
split seed). When samples are not independent (frames of one object, images of one patient), the
loader gives `DatasetSplits.groups`, a group id per training sample: whole groups then go to
validation, and no group straddles training and validation.

A package announces its modules in the entry-point groups `trainboard.models` and
`trainboard.datasets` (pyproject: `[project.entry-points."trainboard.models"] tiny = "my_pkg.models"`);
`load_plugins()`, run by each worker at start, imports them. The built-in zoo registers itself
the same way. A broken plugin (import error, duplicate name, bad options class) is logged with
its name and skipped whole; the worker serves the rest.

This module imports neither torch nor the worker: the API, the client and a plugin's own tests
can import it anywhere.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from trainboard.queues import BUILTIN_PACKAGE

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Task = Literal["classification", "segmentation"]
Framework = Literal["torch", "numpy"]
MODEL_GROUP = "trainboard.models"
DATASET_GROUP = "trainboard.datasets"
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


class ModelOptions(BaseModel):
    """Base of every model's options; unknown options are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str


class DatasetOptions(BaseModel):
    """Base of every dataset's options; unknown options are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str


@dataclass
class DatasetSplits:
    """Inputs as float tensors (N, C, H, W), already normalised; targets as int64 class indices:
    (N,) for classification, (N, H, W) masks for segmentation. `groups`: optional, an int64 group
    id (N,) per training sample; the validation split the engine holds out keeps groups whole."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    groups: torch.Tensor | None = None


# (x, y, options, generator) -> (x, y): augments one batch, on the training device, as whole tensors.
Augment = Callable[[Any, Any, DatasetOptions, Any], tuple[Any, Any]]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    options: type[ModelOptions]
    build: Callable[[Any, tuple[int, ...], int], Any]  # (options, input_shape, num_classes) -> model
    task: Task
    framework: Framework
    description: str
    # (options, input_shape, num_classes) -> (parameters, MACs per sample), for models that cannot
    # be sized on torch's meta device (NumPy models would allocate their weights).
    size: Callable[[Any, tuple[int, ...], int], tuple[int, int]] | None = None

    @property
    def package(self) -> str:
        return package_of(self.build)


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    options: type[DatasetOptions]
    load: Callable[[DatasetOptions, Path, int], DatasetSplits]  # (options, data_dir, split seed)
    # (C, H, W), or a function of the options for datasets resized to a chosen size
    input_shape: tuple[int, ...] | Callable[[DatasetOptions], tuple[int, ...]]
    num_classes: int
    task: Task
    description: str
    augment: Augment | None = None
    # True when a horizontal flip keeps the label (CIFAR-10 yes; digits and traffic signs no):
    # then test-time augmentation averages the prediction over the image and its mirror.
    flip_invariant: bool = False

    def shape_for(self, options: DatasetOptions) -> tuple[int, ...]:
        return tuple(self.input_shape(options) if callable(self.input_shape) else self.input_shape)

    @property
    def package(self) -> str:
        return package_of(self.load)


MODELS: dict[str, ModelEntry] = {}
DATASETS: dict[str, DatasetEntry] = {}


def _entry_name(options: Any, base: type[BaseModel], kind: str) -> str:
    """The registered name: the default of the options' `name` field. Refuses options classes a
    spec could not select (not a subclass of the base, no `name` default, a name no URL can carry)."""
    if not (isinstance(options, type) and issubclass(options, base)):
        raise TypeError(f"the options of a {kind} must be a subclass of trainboard.plugins.{base.__name__}")
    field_info = options.model_fields.get("name")
    name = field_info.default if field_info is not None else None
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise TypeError(
            f"{options.__name__}.name must default to the {kind}'s name (letters, digits, _ . -), "
            f'as in `name: Literal["my_{kind}"] = "my_{kind}"`'
        )
    try:
        options.model_json_schema()  # published to the API: every option must be describable
        options()  # and a spec naming just the entry must be valid: every option has a default
    except Exception as exc:  # pydantic raises several kinds here; all mean a bad options class
        raise TypeError(f"{options.__name__} cannot serve as the options of {kind} {name!r}: {exc}") from exc
    return name


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def register_model(
    *, options: type[ModelOptions], task: Task, description: str, framework: Framework = "torch", size=None
):
    """Decorator for a builder `build(options, input_shape, num_classes) -> torch.nn.Module`."""
    name = _entry_name(options, ModelOptions, "model")
    _check_choice(task, get_args(Task), "task")
    _check_choice(framework, get_args(Framework), "framework")

    def decorator(build):
        if name in MODELS:
            previous = MODELS[name].package
            raise ValueError(f"model {name!r} registered twice (by {previous} and now {package_of(build)})")
        MODELS[name] = ModelEntry(name, options, build, task, framework, description, size)
        return build

    return decorator


def register_dataset(
    *,
    options: type[DatasetOptions],
    input_shape: tuple[int, ...] | Callable[[DatasetOptions], tuple[int, ...]],
    num_classes: int,
    task: Task,
    description: str,
    augment: Augment | None = None,
    flip_invariant: bool = False,
):
    """Decorator for a loader `load(options, data_dir, seed) -> DatasetSplits`; `seed` is the run's
    split seed (see the module's docstring)."""
    name = _entry_name(options, DatasetOptions, "dataset")
    _check_choice(task, get_args(Task), "task")
    if not (isinstance(num_classes, int) and num_classes >= 1):
        raise TypeError(f"dataset {name!r}: num_classes must be a positive int")

    def decorator(load):
        if name in DATASETS:
            previous = DATASETS[name].package
            raise ValueError(f"dataset {name!r} registered twice (by {previous} and now {package_of(load)})")
        entry = DatasetEntry(name, options, load, input_shape, num_classes, task, description, augment, flip_invariant)
        shape = entry.shape_for(options())
        if not (1 <= len(shape) <= 4 and all(isinstance(n, int) and n >= 1 for n in shape)):
            raise TypeError(f"dataset {name!r}: input_shape must be positive ints such as (3, 32, 32), not {shape}")
        DATASETS[name] = entry
        return load

    return decorator


# --- which package an entry comes from ----------------------------------------------------------


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def normalise_package(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_of(function: Callable) -> str:
    """The distribution whose code registered an entry: `trainboard` for the built-in zoo, the
    plugin's distribution name otherwise (its top-level module's name when it is not installed)."""
    top = (getattr(function, "__module__", None) or "").split(".")[0]
    if top in ("worker", "trainboard"):
        return BUILTIN_PACKAGE
    found = _distributions().get(top)
    return normalise_package(found[0] if found else top or "unknown")


def package_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- loading the plugins ------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenPlugin:
    package: str
    entry_point: str  # "group: name = value"
    error: str


@dataclass
class PluginReport:
    packages: list[str] = field(default_factory=list)
    broken: list[BrokenPlugin] = field(default_factory=list)


_REPORT: PluginReport | None = None


def load_plugins(*, reload: bool = False) -> PluginReport:
    """Import every entry point of the two groups, one distribution at a time: when any entry of
    a distribution fails, everything it registered is taken back and it is reported as broken.
    Loads once per process (again with `reload=True`, for entry points installed since)."""
    global _REPORT
    if _REPORT is not None and not reload:
        return _REPORT
    _distributions.cache_clear()
    by_package: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for group in (MODEL_GROUP, DATASET_GROUP):
        for entry_point in importlib.metadata.entry_points(group=group):
            dist = getattr(entry_point, "dist", None)
            package = normalise_package(dist.name) if dist is not None else entry_point.value.split(".")[0]
            by_package.setdefault(package, []).append(entry_point)
    report = PluginReport()
    # The built-in zoo first: a plugin that reuses a built-in name is the broken one.
    for package in sorted(by_package, key=lambda name: (name != BUILTIN_PACKAGE, name)):
        models_before, datasets_before = set(MODELS), set(DATASETS)
        for entry_point in by_package[package]:
            try:
                loaded = entry_point.load()
                if callable(loaded) and not isinstance(loaded, type):
                    loaded()  # a registration function rather than a module
            except Exception as exc:  # anything a plugin raises makes it broken, never the worker
                for name in set(MODELS) - models_before:
                    del MODELS[name]
                for name in set(DATASETS) - datasets_before:
                    del DATASETS[name]
                where = f"{entry_point.group}: {entry_point.name} = {entry_point.value}"
                message = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s skipped: %s failed: %s", package, where, message)
                report.broken.append(BrokenPlugin(package, where, message))
                break
        else:
            report.packages.append(package)
    _REPORT = report
    return report


def loaded_packages() -> list[str]:
    """The packages this process can train entries of: those of the registered entries."""
    return sorted({entry.package for entry in [*MODELS.values(), *DATASETS.values()]})
