"""`EngineSpec`: a run's `TrainSpec` bound to this worker's registries, so that its model and
dataset are their typed options classes (the engine reads `spec.model.hidden_sizes`...).

The API checked the spec against the schemas the workers published; here the options classes
themselves check it again (a plugin's own validators run), with the same rules between fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import SerializeAsAny, field_validator, model_validator

from trainboard.plugins import DATASETS, MODELS, DatasetOptions, ModelOptions
from trainboard.spec import TrainSpec, rule_problems, selection_metric
from trainboard.spec_paths import name_shorthand


def _resolve(registry: dict, kind: str, value: Any) -> Any:
    value = name_shorthand(value)
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        entry = registry.get(value["name"])
        if entry is None:
            raise ValueError(f"this worker has no {kind} {value['name']!r} (it has: {', '.join(sorted(registry))})")
        return entry.options.model_validate(value)
    return value


class EngineSpec(TrainSpec):
    model: SerializeAsAny[ModelOptions]
    dataset: SerializeAsAny[DatasetOptions]

    @field_validator("model", mode="before")
    @classmethod
    def _model_options(cls, value: Any) -> Any:
        return _resolve(MODELS, "model", value)

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_options(cls, value: Any) -> Any:
        return _resolve(DATASETS, "dataset", value)

    @model_validator(mode="after")
    def _rules(self) -> EngineSpec:
        model = MODELS[self.model.name]
        problems = rule_problems(self, model_task=model.task, framework=model.framework, dataset_task=self.task)
        if problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems))
        return self

    @property
    def task(self) -> str:
        return DATASETS[self.dataset.name].task

    @property
    def framework(self) -> str:
        return MODELS[self.model.name].framework

    @property
    def selects_by(self) -> str:
        """The metric the best epoch and the best checkpoint are chosen by (`selection_metric` resolved)."""
        return selection_metric(self, self.task)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return DATASETS[self.dataset.name].shape_for(self.dataset)

    @property
    def num_classes(self) -> int:
        return DATASETS[self.dataset.name].num_classes
