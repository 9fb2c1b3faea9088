"""Parameter count and MACs of a spec's model, computed without real data or weights."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from worker.engine.spec import TrainSpec
from worker.zoo import MODELS


def model_size(spec: TrainSpec) -> tuple[int, int]:
    """(parameters, multiply-accumulates for one sample) of the spec's model at its dataset's input size."""
    entry = MODELS[spec.model.name]
    shape = spec.input_shape
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
    return int(params), int(counter.get_total_flops() // 2)
