"""A model that cannot take its dataset's inputs is found by the worker when it sizes the run
(meta device, no data loaded): the run then fails at once with the reason."""

from __future__ import annotations

import pytest

from tests.utils.factories import valid_spec
from worker.engine.model_stats import ModelMisfit, model_size
from worker.engine.spec import EngineSpec


def test_a_model_too_deep_for_the_inputs_is_refused_with_the_reason():
    spec = EngineSpec.model_validate(valid_spec(model={"name": "convnet", "widths": [8, 8, 8, 8, 8, 8]}))
    with pytest.raises(ModelMisfit) as caught:  # 6 poolings of 28 pixels
        model_size(spec)
    assert "convnet" in str(caught.value) and "1x28x28" in str(caught.value)


def test_a_unet_needs_inputs_divisible_by_its_poolings():
    spec = valid_spec(model={"name": "unet", "num_layers": 6},
                      dataset={"name": "synthetic_segmentation", "image_size": 48})
    with pytest.raises(ModelMisfit, match="unet"):
        model_size(EngineSpec.model_validate(spec))
    spec["dataset"]["image_size"] = 64
    params, macs = model_size(EngineSpec.model_validate(spec))
    assert params > 0 and macs > 0
