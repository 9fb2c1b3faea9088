"""The training engine on its own: plain Python, no Celery, no HTTP."""

from __future__ import annotations

import math

import pytest
import torch

from worker.engine.loop import TrainingCancelled, TrainingDiverged, train
from trainboard.options import SCHEDULERS
from worker.engine.optim import lr_factor
from worker.engine.spec import EngineSpec


def make_spec(**overrides) -> EngineSpec:
    spec = {"model": "mlp", "dataset": {"name": "synthetic_mnist", "num_train": 600, "num_test": 200},
            "learning_rate": 0.5, "epochs": 3, "batch_size": 50}
    return EngineSpec.model_validate({**spec, **overrides})


class Recorder:
    def __init__(self, stop_after_batches: int | None = None):
        self.info: dict = {}
        self.epochs: list[tuple[int, dict]] = []
        self.batches = 0
        self.artifacts: dict[str, tuple[bytes, str]] = {}
        self.stop_after_batches = stop_after_batches

    def on_start(self, info):
        self.info = info

    def on_epoch(self, epoch, metrics):
        self.epochs.append((epoch, dict(metrics)))

    def on_artifact(self, name, content, media_type):
        self.artifacts[name] = (content, media_type)

    def should_stop(self):
        self.batches += 1
        return self.stop_after_batches is not None and self.batches > self.stop_after_batches


def test_training_lowers_the_loss_and_reports_every_epoch(tmp_path):
    recorder = Recorder()
    result = train(make_spec(epochs=4), recorder, data_dir=tmp_path)
    assert [epoch for epoch, _ in recorder.epochs] == [1, 2, 3, 4]
    first, last = recorder.epochs[0][1], recorder.epochs[-1][1]
    assert set(first) == {"train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy", "test_loss",
                          "test_accuracy", "test_balanced_accuracy", "lr", "epoch_seconds", "samples_per_second",
                          "peak_memory_mb"}
    assert last["train_loss"] < first["train_loss"]
    assert last["test_accuracy"] > 0.5  # chance is 0.1
    assert result.epochs_completed == 4
    assert recorder.info["device"] == "cpu" and recorder.info["torch_version"] == torch.__version__
    assert len(recorder.info["git_commit"]) == 40  # the tests run from a git checkout


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


def test_resume_from_checkpoint_gives_the_uninterrupted_result(tmp_path):
    spec = make_spec(epochs=4, optimizer={"name": "sgd", "momentum": 0.9}, learning_rate=0.05,
                     model={"name": "mlp", "dropout": 0.2})
    straight = Recorder()
    train(spec, straight, data_dir=tmp_path, checkpoint_dir=tmp_path / "straight")

    interrupted = Recorder(stop_after_batches=12 * 2 + 5)  # cancelled during epoch 3
    with pytest.raises(TrainingCancelled):
        train(spec, interrupted, data_dir=tmp_path, checkpoint_dir=tmp_path / "resumed")
    assert [epoch for epoch, _ in interrupted.epochs] == [1, 2]

    resumed = Recorder()
    result = train(spec, resumed, data_dir=tmp_path, checkpoint_dir=tmp_path / "resumed")
    assert resumed.info["resumed_from_epoch"] == 2
    # Epochs 1-2 are reported again (the store ignores repeats), then 3-4 are trained.
    assert [epoch for epoch, _ in resumed.epochs] == [1, 2, 3, 4]
    assert result.epochs_completed == 4

    def curve(recorder):
        return [m[name] for _, m in recorder.epochs for name in ("train_loss", "test_loss", "test_accuracy")]

    assert curve(resumed) == pytest.approx(curve(straight), rel=1e-6)


def test_checkpoints_are_loadable_with_the_spec_inside(tmp_path):
    from worker.engine import checkpoints

    spec = make_spec(epochs=2)
    train(spec, Recorder(), data_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt")
    last = checkpoints.load(tmp_path / "ckpt" / checkpoints.LAST)  # weights_only=True
    best = checkpoints.load(tmp_path / "ckpt" / checkpoints.BEST)
    assert EngineSpec.model_validate(last["spec"]) == spec
    assert last["progress"]["epoch"] == 2 and best["progress"]["epoch"] == best["progress"]["best_epoch"]
    assert not list((tmp_path / "ckpt").glob("*.tmp")), "no temporary file left behind"


def test_early_stopping_ends_the_run_when_the_metric_stalls(tmp_path):
    recorder = Recorder()
    spec = make_spec(epochs=50, learning_rate=0.5,
                     early_stopping={"metric": "val_accuracy", "patience": 2, "min_delta": 1.0})
    result = train(spec, recorder, data_dir=tmp_path)
    # Accuracy can never improve by more than 1.0: the run stops after 1 + patience epochs.
    assert result.stopped_early and result.epochs_completed == 3
    assert len(recorder.epochs) == 3


@pytest.mark.parametrize("options", [
    {"label_smoothing": 0.1},
    {"grad_clip_norm": 0.5},
    {"amp": "bf16"},
    {"channels_last": True},
    {"deterministic": True},
    {"scheduler": {"name": "onecycle"}},
    {"scheduler": {"name": "cosine", "warmup_epochs": 1}},
])
def test_training_options_train(tmp_path, options):
    recorder = Recorder()
    train(make_spec(epochs=2, **options), recorder, data_dir=tmp_path)
    losses = [m["train_loss"] for _, m in recorder.epochs]
    assert all(math.isfinite(loss) for loss in losses) and losses[1] < losses[0]


def test_numpy_mlp_trains_through_the_engine_and_resumes(tmp_path):
    spec = make_spec(model={"name": "mlp_numpy", "hidden_sizes": [64, 32]}, epochs=3,
                     optimizer={"name": "sgd", "momentum": 0.5}, learning_rate=0.3)
    straight = Recorder()
    result = train(spec, straight, data_dir=tmp_path, checkpoint_dir=tmp_path / "a")
    losses = [m["train_loss"] for _, m in straight.epochs]
    assert result.epochs_completed == 3 and losses[-1] < losses[0]
    assert straight.epochs[-1][1]["test_accuracy"] > 0.5
    assert straight.info["framework"] == "numpy"

    interrupted = Recorder(stop_after_batches=12 + 3)
    with pytest.raises(TrainingCancelled):
        train(spec, interrupted, data_dir=tmp_path, checkpoint_dir=tmp_path / "b")
    resumed = Recorder()
    train(spec, resumed, data_dir=tmp_path, checkpoint_dir=tmp_path / "b")
    assert resumed.info["resumed_from_epoch"] == 1
    assert [m["train_loss"] for _, m in resumed.epochs] == pytest.approx(losses, rel=1e-6)


def test_numpy_models_refuse_what_they_cannot_do():
    from pydantic import ValidationError

    for extra, field in [({"optimizer": "adam"}, "optimizer"), ({"device": "cuda"}, "device"),
                         ({"amp": "bf16"}, "amp"), ({"label_smoothing": 0.1}, "label_smoothing")]:
        with pytest.raises(ValidationError) as error:
            make_spec(model="mlp_numpy", **extra)
        assert f"{field}: " in str(error.value)  # the same rules as the API's (trainboard.spec.rule_problems)


def test_segmentation_reports_dice_and_iou_and_overlays(tmp_path):
    spec = EngineSpec.model_validate({
        "model": {"name": "unet", "num_layers": 3, "features_start": 8},
        "dataset": {"name": "synthetic_segmentation", "num_train": 48, "num_test": 16, "image_size": 32},
        "optimizer": "adam", "learning_rate": 0.01, "epochs": 3, "batch_size": 8, "tta": True,
    })
    recorder = Recorder()
    train(spec, recorder, data_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt")
    last = recorder.epochs[-1][1]
    for split in ("val", "test"):
        names = {f"{split}_{name}" for name in ("loss", "dice", "iou", "dice_pooled", "iou_pooled")}
        assert names <= set(last) and f"{split}_accuracy" not in last
        assert 0 <= last[f"{split}_iou"] <= last[f"{split}_dice"] <= 1
    assert recorder.epochs[-1][1]["train_loss"] < recorder.epochs[0][1]["train_loss"]
    png, media_type = recorder.artifacts["overlays/epoch_0003.png"]
    assert media_type == "image/png" and png.startswith(b"\x89PNG")
    assert (tmp_path / "ckpt" / "best.pt").exists()  # chosen by val_dice


def test_dice_and_iou_are_computed_per_foreground_class():
    from worker.engine.metrics import evaluate

    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2, :2] = 1  # 4 foreground pixels
    predicted = torch.zeros(1, 4, 4, dtype=torch.long)
    predicted[0, :2, :1] = 1  # 2 of them found, none wrong
    predicted[0, 3, 3] = 1  # and 1 false positive

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(predicted, 2).permute(0, 3, 1, 2).float() * 10

    metrics = evaluate(Fixed(), torch.zeros(1, 1, 4, 4), target, task="segmentation", num_classes=2, batch_size=4,
                       prefix="test")
    assert metrics["test_dice_pooled"] == metrics["test_dice"] == pytest.approx(2 * 2 / (3 + 4))
    assert metrics["test_iou_pooled"] == metrics["test_iou"] == pytest.approx(2 / 5)


def test_balanced_accuracy_weighs_classes_equally():
    from worker.engine.metrics import evaluate

    target = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
    predicted = torch.zeros(8, dtype=torch.long)  # always class 0

    class Fixed(torch.nn.Module):
        def forward(self, x):  # x holds each sample's index
            return torch.nn.functional.one_hot(predicted[x[:, 0].long()], 2).float()

    samples = torch.arange(8).float().unsqueeze(1)
    metrics = evaluate(Fixed(), samples, target, task="classification", num_classes=2, batch_size=3, prefix="val")
    right, wrong = math.log(1 + math.exp(-1)), math.log(1 + math.exp(1))  # cross-entropy of logits (1, 0)
    assert metrics == {"val_loss": pytest.approx((6 * right + 2 * wrong) / 8), "val_accuracy": pytest.approx(0.75),
                       "val_balanced_accuracy": pytest.approx(0.5)}


def test_a_full_disk_keeps_the_previous_checkpoint_and_fails_clearly(tmp_path, monkeypatch):
    import errno

    from worker.engine import checkpoints
    from worker.engine.interface import CheckpointFailed

    real_save = torch.save
    saves = {"count": 0}

    def save_until_the_disk_fills(obj, handle, *args, **kwargs):
        saves["count"] += 1
        if saves["count"] > 2:  # epoch 1 wrote last.pt and best.pt; then the disk is full
            handle.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    recorder = Recorder()
    with pytest.raises(CheckpointFailed) as failed:
        train(make_spec(epochs=3), recorder, data_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt")
    assert "epoch 2" in str(failed.value) and "No space left on device" in str(failed.value)
    assert "previous checkpoint is kept" in str(failed.value)
    assert [epoch for epoch, _ in recorder.epochs] == [1, 2]  # the finished epoch is still reported
    kept = checkpoints.load(tmp_path / "ckpt" / checkpoints.LAST)
    assert kept["progress"]["epoch"] == 1
    assert not list((tmp_path / "ckpt").glob("*.tmp"))
