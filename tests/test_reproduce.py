"""bench/reproduce.py: a preset's study trained on MNIST files in their real format, its table
checked against a hand computation (the test accuracy at each run's best val_accuracy epoch)
and against scipy's Mann–Whitney U."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats

from bench import reproduce
from tests.utils.dataset_files import write_mnist

PRESET = "mnist-mlp-lr-sweep"


def _digits(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Learnable but noisy 28x28 "digits": a bright square whose place is the class, plus noise."""
    labels = rng.integers(0, 10, count)
    images = rng.integers(0, 90, (count, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels, strict=True):
        row, col = divmod(int(label), 4)
        image[4 + 6 * row : 10 + 6 * row, 2 + 6 * col : 8 + 6 * col] = 255
    return images, labels


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    write_mnist(tmp_path / "data", *_digits(200, rng), *_digits(60, rng))
    return tmp_path / "data"


def _arguments(data_dir, out) -> list[str]:
    return [PRESET, "--data-dir", str(data_dir), "--epochs", "3", "--seeds", "2",
            "--set", "dataset.download=false", "--out", str(out)]  # fmt: skip


def _selected(run: dict) -> float:
    """By hand: the test accuracy at the first epoch of highest val_accuracy."""
    epochs = sorted(run["epochs"], key=int)
    best = max(epochs, key=lambda e: (run["epochs"][e]["val_accuracy"], -int(e)))
    return run["epochs"][best]["test_accuracy"]


def test_reproduce_writes_the_presets_table_at_the_best_validation_epoch(mnist_dir, tmp_path, capsys):
    out = tmp_path / "docs" / "mnist.md"
    assert reproduce.main(_arguments(mnist_dir, out)) == 0
    document = out.read_text()
    kept = json.loads(out.with_suffix(".json").read_text())
    assert len(kept) == 5 * 2  # five learning rates, two seeds each
    assert "Shortened, not the preset's own study" in document and "epochs 3; seeds 2" in document
    assert "test_accuracy at the run's best val_accuracy epoch" in document

    by_arm: dict[str, list[float]] = {}
    for run in kept.values():
        assert run["selection_metric"] == "val_accuracy" and set(run["epochs"]) == {"1", "2", "3"}
        by_arm.setdefault(run["cell"], []).append(_selected(run))
    assert len(by_arm) == 5
    arm_table = document.split("Mann–Whitney")[0].splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in arm_table if line.startswith("| learn")}
    for arm, values in by_arm.items():
        mean = f"{100 * np.mean(values):.2f}%"
        assert f"| 2 | 2 | {mean}" in rows[arm], (arm, values, rows[arm])
    # Each pair of arms: the p-value of scipy's exact Mann–Whitney U, where no value is tied.
    compared = 0
    for line in document.splitlines():
        match = re.match(r"^\| (learning_rate=\S+) \| (learning_rate=\S+) \| \S+ \| (\S+) \|", line)
        if match is None:
            continue
        a, b = by_arm[match[1]], by_arm[match[2]]
        if len(set(a + b)) == len(a + b):
            expected = stats.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue
            assert float(match[3]) == pytest.approx(expected, rel=1e-2)
            compared += 1
    assert compared or any(len(set(a)) < len(a) for a in by_arm.values())


def test_reproduce_again_trains_nothing_already_done(mnist_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "mnist.md"
    assert reproduce.main(_arguments(mnist_dir, out)) == 0
    first = out.read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(reproduce, "train_run", no_training)
    assert reproduce.main(_arguments(mnist_dir, out)) == 0
    assert "10 already done" in capsys.readouterr().out
    table = [line for line in first.splitlines() if line.startswith("|")]
    assert [line for line in out.read_text().splitlines() if line.startswith("|")] == table


def test_reproduce_says_in_one_line_what_is_wrong(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no preset 'nope'; presets: mnist-mlp-lr-sweep"):
        reproduce.main(["nope"])
    assert reproduce.main(_arguments(tmp_path / "empty", tmp_path / "out.md")) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: MNIST not found") and "\n" not in error
    assert not (tmp_path / "out.md").exists()
