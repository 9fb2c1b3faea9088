"""Parameters and MACs (multiply-accumulates for one sample, at the preset's input size) of every
model variant of every study preset (`trainboard.presets`), as the markdown table in the README:

    python -m bench.preset_sizes

Counted as a worker counts a run's (`worker.engine.model_stats.model_size`: torch's flop counter
on the meta device, or the model's own count for the NumPy MLP). tests/test_presets.py checks the
README's table against this one, so it cannot drift from the code.
"""

from __future__ import annotations

import itertools
import json

import worker.datasets  # noqa: F401  (registers)
import worker.zoo  # noqa: F401  (registers)
from trainboard.presets import PRESETS, StudyPreset
from trainboard.spec_paths import name_shorthand
from worker.engine.model_stats import model_size
from worker.engine.spec import EngineSpec


def model_variants(preset: StudyPreset) -> list[dict]:
    """The preset's distinct models over its grid (model entries, or options such as model.norm)."""
    base = name_shorthand(preset.base_spec["model"])
    model_paths = {path: values for path, values in preset.grid.items() if path.split(".")[0] == "model"}
    variants: list[dict] = []
    for values in itertools.product(*model_paths.values()):
        model = dict(base)
        for path, value in zip(model_paths, values, strict=True):
            if path == "model":
                model = dict(name_shorthand(value))
            else:
                model[path.split(".", 1)[1]] = value
        if model not in variants:
            variants.append(model)
    return variants


def options_text(model: dict) -> str:
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in model.items() if key != "name")


def preset_sizes_table() -> str:
    rows = [
        "| preset | model | options | input | parameters | MACs per sample |",
        "|---|---|---|---|---:|---:|",
    ]
    for preset in PRESETS:
        for model in model_variants(preset):
            spec = EngineSpec.model_validate({**preset.base_spec, "model": model})
            params, macs = model_size(spec)
            shape = "×".join(map(str, spec.input_shape))
            rows.append(
                f"| `{preset.name}` | `{model['name']}` | {options_text(model) or '—'} | {shape} "
                f"| {params / 1e6:,.2f} M | {macs / 1e6:,.2f} M |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    print(preset_sizes_table())
