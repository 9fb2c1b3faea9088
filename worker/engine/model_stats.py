"""Parameter count and MACs of a spec's model, computed without real data or weights: this is
also where a worker finds, within seconds and before loading any data, that a model cannot take
its dataset's inputs."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from trainboard.model_budget import over_budget
from trainboard.plugins import MODELS
from worker.engine.spec import EngineSpec


class ModelMisfit(ValueError):
    """The model cannot be built for, or run on, the dataset's inputs (too small for its poolings...),
    or is larger than the server's parameter budget."""


def model_size(spec: EngineSpec) -> tuple[int, int]:
    """(parameters, multiply-accumulates for one sample) of the spec's model at its dataset's input
    size. Raises `ModelMisfit` with the reason when the model cannot take these inputs."""
    entry = MODELS[spec.model.name]
    shape = spec.input_shape
    try:
        if entry.size is not None:  # counted from the options: no torch, no weights allocated
            params, macs = entry.size(spec.model, shape, spec.num_classes)
            return int(params), int(macs)
        # On the meta device nothing is allocated or computed: only shapes flow through.
        with torch.device("meta"):
            model = entry.build(spec.model, shape, spec.num_classes)
            params = sum(p.numel() for p in model.parameters())
            model.eval()
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                model(torch.empty((1, *shape)))
    except (ValueError, RuntimeError) as exc:
        size = "x".join(map(str, shape))
        raise ModelMisfit(f"model {spec.model.name!r} cannot take this dataset's {size} inputs: {exc}") from exc
    return int(params), int(counter.get_total_flops() // 2)


def check_budget(spec: EngineSpec, params: int, budget: int | None) -> None:
    """Raises `ModelMisfit` naming the model's options when it has more than `budget` parameters."""
    if budget is not None and params > budget:
        raise ModelMisfit(over_budget(spec.model.name, params, budget, spec.model.model_dump(), at_least=False))
