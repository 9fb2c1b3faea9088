"""Checkpoints load with `weights_only=True`: a .pt file whose pickle would run code is refused,
and the code does not run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from worker.engine import checkpoints


def _plant(path: str) -> None:
    Path(path).write_text("the checkpoint ran code")


class Malicious:
    """Unpickling this calls _plant(marker): what a hostile checkpoint would do with os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_plant, (str(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "last.pt"
    torch.save({"model": {"weight": torch.zeros(2)}, "payload": Malicious(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        checkpoints.load(path)
    assert not marker.exists()
    # the same file, loaded the unsafe way, would have run it: the test's payload is real
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_plain_checkpoint_loads(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"epoch": 3, "model": {"weight": torch.ones(2)}}, path)
    loaded = checkpoints.load(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["weight"], torch.ones(2))
