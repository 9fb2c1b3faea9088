"""The course studies trainboard was made for, as study definitions: a base spec, a grid
{dotted spec path: values} and seeds per cell, exactly what `POST /studies` takes. The New Run
page offers them as one-click presets (`GET /presets`); each says which of the course's sheets
(002: Embedded ML exercise 2; 003: a write-up of Embedded ML exercise 5; 004: Advanced Deep
Learning assignment 1) it reproduces, and how.

Every preset trains deterministically and repeats each cell over several seeds, as sheet 004
asks of any comparison ("three independent trials for each architecture").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

SGD_MOMENTUM = {"name": "sgd", "momentum": 0.9}


class StudyPreset(BaseModel):
    name: str = Field(description="The study's name (and its runs' group) when created as it is")
    title: str
    text: str = Field(description="What the preset reproduces, from which seed sheet, and its choices")
    base_spec: dict[str, Any] = Field(description="The spec every run starts from, as POST /studies takes it")
    grid: dict[str, list[Any]] = Field(description="Dotted spec path -> values; every combination is run")
    seeds: int = Field(description="Seeds per cell: base_spec.seed, +1, +2...")

    @property
    def cells(self) -> int:
        count = 1
        for values in self.grid.values():
            count *= len(values)
        return count


PRESETS: tuple[StudyPreset, ...] = (
    StudyPreset(
        name="mnist-mlp-lr-sweep",
        title="MNIST NumPy MLP: learning rates",
        text=(
            "Sheet 002 (Embedded ML exercise 2.2): the from-scratch sigmoid MLP on MNIST for 30 epochs, with five"
            " learning rates from 1 to 0.001, three seeds each."
        ),
        base_spec={
            "model": {"name": "mlp_numpy", "activation": "sigmoid"},
            "dataset": "mnist",
            "optimizer": "sgd",
            "learning_rate": 0.1,
            "epochs": 30,
            "batch_size": 64,
            "deterministic": True,
        },
        grid={"learning_rate": [1.0, 0.3, 0.1, 0.01, 0.001]},
        seeds=3,
    ),
    StudyPreset(
        name="cifar10-norm",
        title="CIFAR-10: none vs batch vs group norm",
        text=(
            "Sheet 003 (Embedded ML exercise 5.1): the same ConvNet without normalization, with BatchNorm and "
            "with GroupNorm (32 groups), 30 epochs, three seeds each."
        ),
        base_spec={
            "model": {"name": "convnet", "norm": "none", "num_groups": 32},
            "dataset": "cifar10",
            "optimizer": {**SGD_MOMENTUM, "weight_decay": 5e-4},
            "learning_rate": 0.05,
            "scheduler": "cosine",
            "epochs": 30,
            "batch_size": 128,
            "deterministic": True,
        },
        grid={"model.norm": ["none", "batch", "group"]},
        seeds=3,
    ),
    StudyPreset(
        name="cifar10-architectures",
        title="CIFAR-10: ResNet vs VGG11 vs ConvNet",
        text=(
            "Sheet 003 (Embedded ML exercise 5.2): ResNet-18 (BasicBlocks, ImageNet stem: about VGG11's "
            "parameters, far fewer MACs), VGG11, and a wide ConvNet whose feature maps are flattened into a "
            "4096-unit layer (by far the most parameters and MACs), 50 epochs, three seeds each; compare against "
            "time and parameters/MACs."
        ),
        base_spec={
            "model": {"name": "resnet", "depth": 18, "stem": "imagenet"},
            "dataset": "cifar10",
            "optimizer": {**SGD_MOMENTUM, "weight_decay": 5e-4},
            "learning_rate": 0.05,
            "scheduler": "cosine",
            "epochs": 50,
            "batch_size": 128,
            "deterministic": True,
        },
        grid={
            "model": [
                {"name": "resnet", "depth": 18, "stem": "imagenet"},
                {"name": "vgg11"},
                {"name": "convnet", "widths": [128, 256], "norm": "batch", "head": "flatten", "hidden": 4096},
            ]
        },
        seeds=3,
    ),
    StudyPreset(
        name="gtsrb-bn-optimizer",
        title="GTSRB: BatchNorm × Adam/SGD × 3 seeds",
        text=(
            "Sheet 004 (Advanced Deep Learning assignment 1, §1.1-1.4): the traffic-sign CNN (ELU after each "
            "convolution) without and with BatchNorm (before the ELU, as Ioffe & Szegedy place it), Adam vs SGD "
            "with momentum 0.9, 400 epochs, three trials each. Each optimizer is run at both learning rates: 1e-3"
            " is Adam's sensible rate, 1e-2 SGD's; the other two cells show each optimizer off its rate."
        ),
        base_spec={
            "model": {"name": "traffic_sign_cnn", "activation": "elu", "batch_norm": False},
            "dataset": "gtsrb",
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "epochs": 400,
            "batch_size": 128,
            "deterministic": True,
        },
        grid={
            "model.batch_norm": [False, True],
            "optimizer": ["adam", SGD_MOMENTUM],
            "learning_rate": [1e-3, 1e-2],
        },
        seeds=3,
    ),
    StudyPreset(
        name="lung-unet-ablation",
        title="Lung U-Net: upsampling × activation",
        text=(
            "Sheet 004 (Advanced Deep Learning assignment 1, §2.1): the reference U-Net (Conv → BatchNorm → ReLU,"
            " transposed-convolution upsampling) on the lung X-ray masks, with nearest upsampling, with ELUs, and"
            " with both: each change alone and combined, three seeds each."
        ),
        base_spec={
            "model": {"name": "unet", "norm": "batch", "upsampling": "transposed", "activation": "relu"},
            "dataset": "lung_xray",
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "epochs": 40,
            "batch_size": 8,
            "deterministic": True,
        },
        grid={"model.upsampling": ["transposed", "nearest"], "model.activation": ["relu", "elu"]},
        seeds=3,
    ),
)
