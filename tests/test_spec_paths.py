"""trainboard.spec_paths: a spec value by dotted path, as `submit --set`, study grids and
`group_by` use it."""

from __future__ import annotations

import pytest

from trainboard.spec_paths import NotAnObject, get_path, set_path


def test_set_path_creates_objects_and_spells_out_bare_names():
    spec = {"model": "mlp", "learning_rate": 0.1}
    set_path(spec, "model.hidden_sizes", [256, 128])
    set_path(spec, ["optimizer", "momentum"], 0.9)
    set_path(spec, "learning_rate", 0.5)
    assert spec == {
        "model": {"name": "mlp", "hidden_sizes": [256, 128]},
        "optimizer": {"momentum": 0.9},
        "learning_rate": 0.5,
    }


def test_set_path_copies_the_value():
    shared = {"name": "sgd", "momentum": 0.9}
    first, second = {}, {}
    set_path(first, "optimizer", shared)
    set_path(second, "optimizer", shared)
    first["optimizer"]["momentum"] = 0.5
    assert second["optimizer"]["momentum"] == 0.9 and shared["momentum"] == 0.9


def test_set_path_refuses_to_go_through_a_value():
    with pytest.raises(NotAnObject, match=r"^learning_rate is 0.1, not an object with options$") as raised:
        set_path({"learning_rate": 0.1}, "learning_rate.x", 1)
    assert (raised.value.path, raised.value.where, raised.value.value) == ("learning_rate.x", "learning_rate", 0.1)
    # Only a registry field at the top is a bare name; another string is a value.
    with pytest.raises(NotAnObject, match=r'^model.norm is "batch", not an object'):
        set_path({"model": {"name": "convnet", "norm": "batch"}}, "model.norm.eps", 1e-5)


def test_get_path():
    spec = {"model": {"name": "mlp", "hidden_sizes": [64]}, "learning_rate": 0.1, "scheduler": None}
    assert get_path(spec, "model.hidden_sizes") == [64]
    assert get_path(spec, ["model", "name"]) == "mlp"
    assert get_path(spec, "learning_rate") == 0.1
    assert get_path(spec, "optimizer.momentum") is None
    assert get_path(spec, "learning_rate.x") is None
    assert get_path(spec, "scheduler.name") is None
