"""The training engine on its own: plain Python, no Celery, no HTTP."""

from __future__ import annotations

import math

import pytest
import torch

from worker.engine.loop import TrainingCancelled, TrainingDiverged, train
from worker.engine.optim import SCHEDULERS, lr_factor
from worker.engine.spec import TrainSpec


def make_spec(**overrides) -> TrainSpec:
    spec = {"model": "mlp", "dataset": {"name": "synthetic_mnist", "num_train": 600, "num_test": 200},
            "learning_rate": 0.5, "epochs": 3, "batch_size": 50}
    return TrainSpec.model_validate({**spec, **overrides})


class Recorder:
    def __init__(self, stop_after_batches: int | None = None):
        self.info: dict = {}
        self.epochs: list[tuple[int, dict]] = []
        self.batches = 0
        self.stop_after_batches = stop_after_batches

    def on_start(self, info):
        self.info = info

    def on_epoch(self, epoch, metrics):
        self.epochs.append((epoch, dict(metrics)))

    def should_stop(self):
        self.batches += 1
        return self.stop_after_batches is not None and self.batches > self.stop_after_batches


def test_training_lowers_the_loss_and_reports_every_epoch(tmp_path):
    recorder = Recorder()
    result = train(make_spec(epochs=4), recorder, data_dir=tmp_path)
    assert [epoch for epoch, _ in recorder.epochs] == [1, 2, 3, 4]
    first, last = recorder.epochs[0][1], recorder.epochs[-1][1]
    assert set(first) == {"train_loss", "test_loss", "test_accuracy", "lr", "epoch_seconds", "samples_per_second"}
    assert last["train_loss"] < first["train_loss"]
    assert last["test_accuracy"] > 0.5  # chance is 0.1
    assert result.epochs_completed == 4
    assert recorder.info["device"] == "cpu" and recorder.info["torch_version"] == torch.__version__


def test_same_seed_same_curve_other_seed_other_curve(tmp_path):
    runs = []
    for seed in (1, 1, 2):
        recorder = Recorder()
        train(make_spec(seed=seed, epochs=2), recorder, data_dir=tmp_path)
        runs.append([m["train_loss"] for _, m in recorder.epochs])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_cancel_stops_at_a_batch_boundary_keeping_finished_epochs(tmp_path):
    # 600 samples / 50 per batch = 12 batches per epoch: stop in the middle of epoch 2.
    recorder = Recorder(stop_after_batches=18)
    with pytest.raises(TrainingCancelled) as cancelled:
        train(make_spec(epochs=5), recorder, data_dir=tmp_path)
    assert cancelled.value.epoch == 2
    assert [epoch for epoch, _ in recorder.epochs] == [1]
    assert recorder.batches == 19


def test_divergence_fails_naming_the_epoch(tmp_path):
    recorder = Recorder()
    spec = make_spec(learning_rate=10.0, optimizer={"name": "sgd", "momentum": 0.99}, epochs=20,
                     model={"name": "mlp", "activation": "relu", "weight_init": "normal"})
    with pytest.raises(TrainingDiverged) as diverged:
        train(spec, recorder, data_dir=tmp_path)
    assert str(diverged.value).startswith(f"diverged at epoch {diverged.value.epoch}")
    assert [epoch for epoch, _ in recorder.epochs] == list(range(1, diverged.value.epoch))


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_trains(tmp_path, optimizer):
    recorder = Recorder()
    lr = 0.5 if optimizer in ("sgd", "adagrad") else 0.003
    train(make_spec(optimizer=optimizer, learning_rate=lr, epochs=3), recorder, data_dir=tmp_path)
    losses = [m["train_loss"] for _, m in recorder.epochs]
    assert losses[-1] < losses[0]


def test_schedules_shape_the_learning_rate(tmp_path):
    recorder = Recorder()
    spec = make_spec(epochs=4, scheduler={"name": "step", "step_size": 2, "gamma": 0.1})
    train(spec, recorder, data_dir=tmp_path)
    lrs = [m["lr"] for _, m in recorder.epochs]
    assert lrs == pytest.approx([0.5, 0.5, 0.05, 0.05])  # as torch's StepLR: decays every step_size epochs

    cosine = SCHEDULERS["cosine"](min_lr_ratio=0.0)
    assert lr_factor(cosine, 0, 10) == pytest.approx(1.0)
    assert lr_factor(cosine, 5, 10) == pytest.approx(0.5)
    assert lr_factor(cosine, 10, 10) == pytest.approx(0.0, abs=1e-12)
    warm = SCHEDULERS["constant"](warmup_epochs=2)
    assert lr_factor(warm, 0, 10) == pytest.approx(0.1) and lr_factor(warm, 2, 10) == 1.0
    onecycle = SCHEDULERS["onecycle"](pct_start=0.3, div_factor=25)
    peak = lr_factor(onecycle, 3, 10)
    assert peak == pytest.approx(1.0) and lr_factor(onecycle, 0, 10) == pytest.approx(1 / 25)
    assert lr_factor(onecycle, 10, 10) < 1e-4


def test_metrics_are_finite_numbers(tmp_path):
    recorder = Recorder()
    train(make_spec(epochs=1), recorder, data_dir=tmp_path)
    assert all(math.isfinite(v) for v in recorder.epochs[0][1].values())


def test_cuda_request_without_gpu_fails_clearly(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        train(make_spec(device="cuda"), Recorder(), data_dir=tmp_path)
