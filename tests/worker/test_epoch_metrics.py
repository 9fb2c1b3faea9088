"""What each epoch reports beside the training loss: the validation, test and train-eval splits'
metrics, per-image and pooled Dice/IoU, the epoch's mean learning rate, and the best epoch and
early stopping chosen on the validation split."""

from __future__ import annotations

import math

import pytest
import torch

from tests.worker.test_engine import Recorder, make_spec
from trainboard.metrics import best_epoch
from worker.engine import checkpoints
from worker.engine.loop import train
from worker.engine.metrics import evaluate


def test_dice_and_iou_are_averaged_over_images_and_pooled_over_pixels():
    # Two 2x3 images, classes 0 (background), 1 and 2.
    target = torch.tensor([[[1, 1, 0], [2, 0, 0]],
                           [[0, 0, 0], [0, 0, 0]]])
    predicted = torch.tensor([[[1, 0, 0], [2, 2, 0]],
                              [[0, 0, 0], [0, 1, 1]]])
    # Image 1: class 1 overlap 1 of areas 1 and 2 (Dice 2/3, IoU 1/2); class 2 overlap 1 of areas 2 and 1
    # (Dice 2/3, IoU 1/2). Image 2: class 1 predicted on 2 pixels, absent in truth (0, 0); class 2 in
    # neither (1, 1). Per image: Dice (2/3 + 1/2) / 2, IoU (1/2 + 1/2) / 2.
    # Pooled: class 1 overlap 1 of areas 3 and 2 (Dice 2/5, IoU 1/4); class 2 as in image 1.

    class Fixed(torch.nn.Module):
        def forward(self, x):  # x holds each image's index
            return torch.nn.functional.one_hot(predicted[x[:, 0, 0, 0].long()], 3).permute(0, 3, 1, 2).float()

    images = torch.arange(2).float().view(2, 1, 1, 1).expand(2, 1, 2, 3)
    metrics = evaluate(Fixed(), images, target, task="segmentation", num_classes=3, batch_size=1, prefix="val")
    assert metrics["val_dice"] == pytest.approx(7 / 12)
    assert metrics["val_iou"] == pytest.approx(1 / 2)
    assert metrics["val_dice_pooled"] == pytest.approx((2 / 5 + 2 / 3) / 2)
    assert metrics["val_iou_pooled"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert set(metrics) == {"val_loss", "val_dice", "val_iou", "val_dice_pooled", "val_iou_pooled"}


@pytest.mark.parametrize("model", ["mlp", "mlp_numpy"])
@pytest.mark.parametrize("scheduler, batch_size, expected", [
    # 80 training samples: 4 steps of 20 an epoch, at epoch progress 0, 0.25, 0.5, 0.75, then 1 .. 1.75.
    # Linear warm-up from lr/10 over 1 epoch: 0.1 + 0.9 * mean(0, .25, .5, .75) = 0.4375, then 1.
    ({"name": "constant", "warmup_epochs": 1}, 20, [0.4375, 1.0]),
    # 2 steps of 40: one cycle rising over the first epoch from 1/10 (0.1, 0.55), then a half cosine
    # over the second down to 1e-5 (1, 0.5 + 0.5e-5).
    ({"name": "onecycle", "pct_start": 0.5, "div_factor": 10}, 40, [0.325, 0.7500025]),
])
def test_the_logged_lr_is_the_mean_over_the_epochs_steps(tmp_path, model, scheduler, batch_size, expected):
    recorder = Recorder()
    spec = make_spec(model=model, scheduler=scheduler, batch_size=batch_size, learning_rate=0.4, epochs=2,
                     dataset={"name": "synthetic_mnist", "num_train": 100, "num_test": 20}, val_fraction=0.2)
    train(spec, recorder, data_dir=tmp_path)
    assert [metrics["lr"] for _, metrics in recorder.epochs] == pytest.approx([0.4 * f for f in expected])


@pytest.mark.parametrize("model", ["mlp", "mlp_numpy"])
def test_eval_train_adds_the_training_sets_metrics_in_eval_mode(tmp_path, model):
    names = {"train_eval_loss", "train_eval_accuracy", "train_eval_balanced_accuracy"}
    plain, measured = Recorder(), Recorder()
    train(make_spec(model=model, epochs=1), plain, data_dir=tmp_path)
    train(make_spec(model=model, epochs=1, eval_train=True), measured, data_dir=tmp_path)
    assert not names & set(plain.epochs[0][1])
    metrics = measured.epochs[0][1]
    assert names <= set(metrics) and all(math.isfinite(metrics[name]) for name in names)
    # Measured after the epoch, with the final weights: not the running mean of the training batches.
    assert metrics["train_eval_loss"] != pytest.approx(metrics["train_loss"])


def test_the_best_checkpoint_is_chosen_on_validation_not_test(tmp_path):
    spec = make_spec(epochs=6, learning_rate=0.3, model={"name": "mlp", "hidden_sizes": [16]},
                     dataset={"name": "synthetic_mnist", "num_train": 200, "num_test": 40, "noise": 4.0})
    recorder = Recorder()
    result = train(spec, recorder, data_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt")
    by_val = best_epoch({epoch: m["val_accuracy"] for epoch, m in recorder.epochs}, "val_accuracy")
    by_test = best_epoch({epoch: m["test_accuracy"] for epoch, m in recorder.epochs}, "test_accuracy")
    assert by_val != by_test, "this run should tell the two apart; choose another"
    assert result.best_epoch == by_val
    assert checkpoints.load(tmp_path / "ckpt" / checkpoints.BEST)["progress"]["epoch"] == by_val


def test_early_stopping_watches_the_validation_loss_by_default(tmp_path):
    spec = make_spec(epochs=40, learning_rate=2.0, early_stopping={"patience": 2},
                     model={"name": "mlp", "hidden_sizes": [16]},
                     dataset={"name": "synthetic_mnist", "num_train": 200, "num_test": 40, "noise": 4.0})
    recorder = Recorder()
    result = train(spec, recorder, data_dir=tmp_path)
    assert result.stopped_early and result.epochs_completed < 40
    losses = [m["val_loss"] for _, m in recorder.epochs]
    best = losses.index(min(losses)) + 1
    assert result.epochs_completed == best + 2  # two epochs without a lower validation loss


def test_without_a_validation_split_early_stopping_watches_the_test_loss(tmp_path):
    # early_stopping={} with val_fraction 0 is accepted (the rule names no val_* metric) and stops on test_loss
    spec = make_spec(epochs=40, learning_rate=2.0, early_stopping={"patience": 2}, val_fraction=0.0,
                     model={"name": "mlp", "hidden_sizes": [16]},
                     dataset={"name": "synthetic_mnist", "num_train": 200, "num_test": 40, "noise": 4.0})
    recorder = Recorder()
    result = train(spec, recorder, data_dir=tmp_path)
    assert not any(name.startswith("val_") for _, metrics in recorder.epochs for name in metrics)
    assert result.stopped_early and result.epochs_completed < 40
    losses = [m["test_loss"] for _, m in recorder.epochs]
    assert result.epochs_completed == losses.index(min(losses)) + 1 + 2
