"""A value of a spec by dotted path ("learning_rate", "model.hidden_sizes", "optimizer.momentum"),
as `trainboard submit --set` sets it, a study's grid varies it and a study's statistics group by it.

The spec is plain JSON here (a dict), before or after validation. A registry field may hold a bare
name ("model": "mlp"), shorthand for {"name": "mlp"}: setting an option in it spells it out.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

# Spec fields that pick a registry entry by `name`; a bare string is shorthand for {"name": ...}.
NAMED_FIELDS = ("model", "dataset", "optimizer", "scheduler")


def name_shorthand(value: Any) -> Any:
    """A registry field's value as an object: "mlp" -> {"name": "mlp"}; anything else unchanged."""
    return {"name": value} if isinstance(value, str) else value


class NotAnObject(ValueError):
    """The path runs through a value that holds no options: `learning_rate.x` where learning_rate
    is 0.1. `path` is the whole path, `where` the part of it that ends at `value`."""

    def __init__(self, keys: list[str], depth: int, value: Any) -> None:
        self.path = ".".join(keys)
        self.where = ".".join(keys[: depth + 1])
        self.value = value
        super().__init__(f"{self.where} is {json.dumps(value)}, not an object with options")


def _keys(path: str | Sequence[str]) -> list[str]:
    return path.split(".") if isinstance(path, str) else list(path)


def set_path(spec: dict[str, Any], path: str | Sequence[str], value: Any) -> None:
    """spec[k0][k1]... = a copy of `value` (one value may go into many specs), creating objects on
    the way; a bare registry name at the top ("model": "mlp") becomes {"name": "mlp"} so that an
    option can be set in it. Raises NotAnObject where the path runs through another value."""
    keys = _keys(path)
    node = spec
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif isinstance(child, str) and depth == 0 and key in NAMED_FIELDS:
            child = node[key] = name_shorthand(child)
        elif not isinstance(child, dict):
            raise NotAnObject(keys, depth, child)
        node = child
    node[keys[-1]] = copy.deepcopy(value)


def get_path(spec: dict[str, Any], path: str | Sequence[str]) -> Any:
    """spec[k0][k1]..., or None where the path leads nowhere (a missing key, or a value that is
    not an object on the way)."""
    node: Any = spec
    for key in _keys(path):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
