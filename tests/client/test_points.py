"""What run.log() accepts and refuses, checked on the caller's thread, and the lines it writes."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction

import pytest

from trainboard.client.points import STEP_KEY, TIME_KEY, api_points, check_name, check_step, held_value, line, lines_of


@pytest.mark.parametrize("name", ["loss", "train/loss", "a.b-c_d", "x" * 100, "0"])
def test_names_the_api_takes(name):
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ValueError, "empty"),
        ("x" * 101, ValueError, "101 characters long, more than 100"),
        ("x" * 250, ValueError, "250 characters long, more than 100"),
        ("test accuracy", ValueError, "A-Za-z0-9_.-/"),
        ('say "hi"', ValueError, "A-Za-z0-9_.-/"),
        ("é", ValueError, "A-Za-z0-9_.-/"),
        (3, TypeError, "not a str"),
    ],
)
def test_names_refused_say_why(name, error, message):
    with pytest.raises(error, match=message):
        check_name(name)


def test_steps():
    assert check_step(0) == 0 and check_step(2**31 - 1) == 2**31 - 1
    np = pytest.importorskip("numpy")
    assert check_step(np.int64(5)) == 5 and type(check_step(np.int64(5))) is int
    for bad, error in [(-1, ValueError), (2**31, ValueError), (1.0, TypeError), ("3", TypeError), (True, TypeError)]:
        with pytest.raises(error, match="step"):
            check_step(bad)


def test_numbers_of_every_kind_become_floats():
    assert held_value("m", 3) == 3.0 and type(held_value("m", 3)) is float
    assert held_value("m", True) == 1.0
    assert held_value("m", Decimal("0.5")) == 0.5
    assert held_value("m", Fraction(1, 4)) == 0.25
    assert held_value("m", 10**400) == math.inf  # too large for a float: stored as null, like inf
    np = pytest.importorskip("numpy")
    for value in (np.float32(0.5), np.float64(0.5), np.int32(2), np.array(0.5), np.array([0.5])):
        assert type(held_value("m", value)) is float


@pytest.mark.parametrize("value", ["0.5", b"1", None, [1.0], {"a": 1}, 1j, object()])
def test_values_that_are_not_numbers_name_the_metric(value):
    with pytest.raises(TypeError, match="metric 'train_loss'"):
        held_value("train_loss", value)


def test_tensors_without_importing_torch_here():
    torch = pytest.importorskip("torch")
    loss = torch.tensor(0.25, requires_grad=True) * 2
    assert held_value("loss", loss) == 0.5  # on the CPU: read now, safe from later in-place changes
    assert held_value("loss", torch.tensor([3])) == 3.0
    with pytest.raises(ValueError, match="metric 'loss': a tensor of 2 elements"):
        held_value("loss", torch.tensor([1.0, 2.0]))


def test_a_tensor_on_a_device_is_kept_detached_and_read_by_the_delivery_thread():
    class DeviceTensor:  # what log() sees of a CUDA tensor: no .item() on the training loop's thread
        device = type("Device", (), {"type": "cuda"})()
        detached = False

        def numel(self):
            return 1

        def detach(self):
            kept = DeviceTensor()
            kept.detached = True
            return kept

        def item(self):
            assert self.detached
            return 0.75

    kept = held_value("loss", DeviceTensor())
    assert kept.detached
    count, lines = lines_of({STEP_KEY: 4, TIME_KEY: 12.5, "loss": kept, "lr": 0.1})
    assert count == 2 and [json.loads(row) for row in lines.splitlines()] == [
        ["loss", 4, 0.75, 12.5],
        ["lr", 4, 0.1, 12.5],
    ]


def test_lines_are_json_and_non_finite_values_are_null():
    text = "".join(line("m", 3, value, "1.5") for value in (0.1, 1e-300, -2.5e20, math.nan, math.inf, -math.inf))
    rows = [json.loads(row) for row in text.splitlines()]
    assert [row[2] for row in rows] == [0.1, 1e-300, -2.5e20, None, None, None]
    assert all(row[:2] == ["m", 3] and row[3] == 1.5 for row in rows)


def test_lines_become_the_apis_points():
    lines = [line("a", 1, 0.5, "10.0")[:-1], line("b/c", 2, math.nan, "11.0")[:-1]]
    assert json.loads("[" + api_points(lines) + "]") == [
        {"name": "a", "step": 1, "value": 0.5, "wall_time": 10.0},
        {"name": "b/c", "step": 2, "value": None, "wall_time": 11.0},
    ]
