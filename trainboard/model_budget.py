"""The parameter budget: a model above it is never trained (issue 12, row 10: an MLP of three
65,536-unit layers was accepted, 8.6e9 parameters, 34 GB of weights).

Enforced twice, with one message:

- the API refuses the spec with a 422 when its options alone prove the model too large: an option
  marked as a list of consecutive layer widths (`LAYER_WIDTHS`, published in the options' JSON
  schema) means at least a*b weights between layers of widths a and b, whatever the input;
- the worker sizes the model exactly on torch's meta device (nothing allocated) before it loads any
  data, and fails the run in seconds when it is over (a plugin's model, a layer whose size grows
  with the input).

The budget is the API's setting (`TRAINBOARD_MAX_MODEL_PARAMETERS`), handed to the worker with
each claim like the heartbeat interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_MAX_PARAMETERS = 2_000_000_000
SETTING = "TRAINBOARD_MAX_MODEL_PARAMETERS"

# json_schema_extra of a model option that lists the widths of consecutive layers (an MLP's hidden
# sizes, a CNN's channels per stage): `Field(..., json_schema_extra=LAYER_WIDTHS)`.
LAYER_WIDTHS_KEY = "x-layer-widths"
LAYER_WIDTHS = {LAYER_WIDTHS_KEY: True}


def parameter_floor(options: Mapping[str, Any], schema: Mapping[str, Any]) -> tuple[int, list[str]]:
    """At least how many parameters a model with these options (defaults filled in) has, from its
    options marked as layer widths, and which of them count (empty when none says anything)."""
    floor, named = 0, []
    for name, prop in schema.get("properties", {}).items():
        widths = options.get(name)
        if not prop.get(LAYER_WIDTHS_KEY) or not isinstance(widths, list) or len(widths) < 2:
            continue
        if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            continue
        floor += sum(a * b for a, b in zip(widths, widths[1:], strict=False))
        named.append(name)
    return floor, named


def over_budget(model: str, parameters: int, budget: int, options: Mapping[str, Any], *, at_least: bool) -> str:
    """The refusal, naming the model's options that make it this large."""
    shown = ", ".join(f"{name}={value!r}" for name, value in options.items() if name != "name")
    size = f"at least {parameters:,}" if at_least else f"{parameters:,}"
    return (
        f"model {model!r} has {size} parameters ({shown}), over this server's budget of {budget:,} "
        f"({SETTING}): make the model smaller"
    )
