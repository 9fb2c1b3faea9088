"""The catalog: every model, dataset, optimizer and scheduler with its options, types, defaults
and bounds, read off the same pydantic classes that validate a `TrainSpec`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from worker.datasets import DATASETS
from worker.engine.optim import OPTIMIZERS, SCHEDULERS
from worker.zoo import MODELS

_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}


def describe_options(options: type[BaseModel]) -> list[dict[str, Any]]:
    schema = options.model_json_schema()
    described = []
    for name, prop in schema.get("properties", {}).items():
        if name == "name":
            continue
        item: dict[str, Any] = {
            "name": name,
            "type": _type_of(prop, schema),
            "default": prop.get("default"),
            "description": prop.get("description"),
        }
        for json_key, key in _BOUNDS.items():
            bound = prop.get(json_key, _items(prop).get(json_key))  # a list's bounds are its items'
            if bound is not None:
                item[key] = bound
        if "enum" in prop:
            item["choices"] = prop["enum"]
        described.append(item)
    return described


_TYPES = {"number": "float", "integer": "int", "boolean": "bool", "string": "str"}


def _items(prop: dict[str, Any]) -> dict[str, Any]:
    """The schema of a list's items (of a tuple's first item: the tuples of options are uniform)."""
    return prop.get("items") or (prop.get("prefixItems") or [{}])[0]


def _type_of(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    if "enum" in prop:
        return "choice"
    kind = prop.get("type")
    if kind == "array":
        item_kind = _items(prop).get("type")
        return f"list[{_TYPES.get(item_kind, item_kind or 'any')}]"
    return _TYPES.get(kind, kind or "any")


def build_catalog() -> dict[str, list[dict[str, Any]]]:
    return {
        "models": [
            {
                "name": m.name,
                "description": m.description,
                "task": m.task,
                "framework": m.framework,
                "options": describe_options(m.options),
            }
            for m in MODELS.values()
        ],
        "datasets": [
            {
                "name": d.name,
                "description": d.description,
                "task": d.task,
                "input_shape": list(d.shape_for(d.options())),
                "num_classes": d.num_classes,
                "options": describe_options(d.options),
            }
            for d in DATASETS.values()
        ],
        "optimizers": [{"name": name, "options": describe_options(o)} for name, o in OPTIMIZERS.items()],
        "schedulers": [{"name": name, "options": describe_options(o)} for name, o in SCHEDULERS.items()],
    }
