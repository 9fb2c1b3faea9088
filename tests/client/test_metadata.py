"""What init() sends besides points: the config as JSON, the default name, the environment."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
import sys
from pathlib import Path

import pytest

from trainboard.client import metadata


class Optimizer(str, enum.Enum):
    sgd = "sgd"


class Depth(enum.IntEnum):
    deep = 8


def test_config_of_any_shape_becomes_json():
    config = {
        "lr": 0.1, "layers": (64, 32), "data": Path("/data/mnist"), "nested": {"a": {"b": [1, {"c": None}]}},
        "bad": math.nan, "opt": Optimizer.sgd, "depth": Depth.deep, 3: "int key", "tags": {"b", "a"},
        "thing": object.__new__(type("Thing", (), {"__str__": lambda self: "a thing"})),
    }  # fmt: skip
    made = metadata.config_of(config)
    assert json.loads(json.dumps(made)) == made
    assert made == {
        "lr": 0.1, "layers": [64, 32], "data": "/data/mnist", "nested": {"a": {"b": [1, {"c": None}]}},
        "bad": None, "opt": "sgd", "depth": 8, "3": "int key", "tags": ["a", "b"], "thing": "a thing",
    }  # fmt: skip


def test_numpy_and_torch_values_in_a_config():
    np = pytest.importorskip("numpy")
    assert metadata.config_of({"a": np.float32(0.5), "b": np.int64(3), "c": np.arange(3), "d": np.bool_(True)}) == {
        "a": 0.5,
        "b": 3,
        "c": [0, 1, 2],
        "d": True,
    }
    torch = pytest.importorskip("torch")
    assert metadata.config_of({"t": torch.tensor(2.5), "v": torch.tensor([1, 2])}) == {"t": 2.5, "v": [1, 2]}


def test_a_dataclass_or_a_namespace_is_a_config():
    @dataclasses.dataclass
    class Config:
        lr: float = 0.1
        sizes: tuple = (1, 2)

    assert metadata.config_of(Config()) == {"lr": 0.1, "sizes": [1, 2]}
    assert metadata.config_of(argparse.Namespace(lr=0.2, out=Path("x"))) == {"lr": 0.2, "out": "x"}
    assert metadata.config_of(None) == {}
    with pytest.raises(TypeError, match="config must be a dict"):
        metadata.config_of([1, 2])


def test_a_config_the_api_would_refuse_is_refused_at_once():
    deep: dict = {}
    for _ in range(19):
        deep = {"a": deep}
    assert metadata.config_of(deep) == deep  # 20 levels, the API's limit, with the innermost {}
    with pytest.raises(ValueError, match="nests deeper than 20 levels"):
        metadata.config_of({"a": deep})
    with pytest.raises(ValueError, match="the config is 70011 bytes of JSON; the API takes 65536 at most"):
        metadata.config_of({"blob": "x" * 70_000})


def test_the_default_name_is_the_scripts_stem(monkeypatch):
    monkeypatch.setattr(sys.modules["__main__"], "__file__", "/somewhere/train_mnist.py", raising=False)
    assert metadata.default_name() == "train_mnist"
    monkeypatch.delattr(sys.modules["__main__"], "__file__")
    assert metadata.default_name() is None  # a REPL, a notebook


def test_environment_names_torch_only_when_the_script_imported_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    facts = metadata.environment()
    assert facts["python"].count(".") == 2 and "torch" not in facts and facts["argv"] == [str(a) for a in sys.argv]
    monkeypatch.setitem(sys.modules, "torch", type("FakeTorch", (), {"__version__": "9.9"}))
    assert metadata.environment()["torch"] == "9.9"
    monkeypatch.setattr(sys, "argv", ["train.py", *["x" * 1000] * 100])  # kept within the API's 16 KiB
    assert len(json.dumps(metadata.environment())) < 12 * 1024
