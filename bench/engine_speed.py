"""Epoch time of trainboard's engine against the canonical torchvision `DataLoader` loop, same
model, data and batch size, in one run; the NumPy MLP against the torch MLP; and, on a CUDA
machine, ResNet-18 on CIFAR-10 and the traffic-sign CNN on GTSRB-sized data.

Datasets cannot be downloaded here, so the benchmark writes full-size files in each dataset's
real on-disk format (MNIST IDX files, CIFAR-10 pickle batches) filled with synthetic images,
and both loops read them through torchvision's real loaders.

    python -m bench.engine_speed [--epochs 3] [--batch-size 64] [--gpu-only] [--cpu-only]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from bench.common import main_wrapper, print_machine, print_table, temp_dir
from tests.utils.dataset_files import write_cifar10, write_mnist
from worker.engine.loop import train
from worker.engine.spec import EngineSpec
from worker.zoo import get_model


class Timer:
    """Engine callback collecting each epoch's own timing."""

    def __init__(self):
        self.epoch_seconds: list[float] = []
        self.accuracy: list[float] = []

    def on_start(self, info):
        pass

    def on_epoch(self, epoch, metrics):
        self.epoch_seconds.append(metrics["epoch_seconds"])
        self.accuracy.append(metrics.get("test_accuracy", float("nan")))

    def on_artifact(self, name, content, media_type):
        pass

    def should_stop(self):
        return False


def synthetic_images(count: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images with a class-dependent pattern, so accuracy is meaningful."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    patterns = rng.integers(0, 256, (10, *shape), dtype=np.uint8)
    noise = rng.integers(0, 96, (count, *shape), dtype=np.uint8)
    return np.clip(patterns[labels] // 2 + noise, 0, 255).astype(np.uint8), labels


def write_datasets(data_dir: Path) -> None:
    train_images, train_labels = synthetic_images(60_000, (28, 28), 0)
    test_images, test_labels = synthetic_images(10_000, (28, 28), 1)
    write_mnist(data_dir, train_images, train_labels, test_images, test_labels)
    train_images, train_labels = synthetic_images(50_000, (32, 32, 3), 2)
    test_images, test_labels = synthetic_images(10_000, (32, 32, 3), 3)
    write_cifar10(data_dir, train_images, train_labels, test_images, test_labels)


def dataloader_epochs(data_dir: Path, epochs: int, batch_size: int, workers: int, device: torch.device) -> list[float]:
    """The canonical loop: torchvision dataset with ToTensor+Normalize, DataLoader, per-batch transfer."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(data_dir, train=True, transform=transform, download=False)
    test_set = datasets.MNIST(data_dir, train=False, transform=transform, download=False)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=workers)
    test_loader = DataLoader(test_set, batch_size=1024, num_workers=workers)
    torch.manual_seed(0)
    model = get_model("mlp", (1, 28, 28), 10).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            for x, y in test_loader:
                model(x.to(device)).argmax(1).eq(y.to(device)).sum()
        seconds.append(time.perf_counter() - started)
    return seconds


def engine_epochs(data_dir: Path, spec: dict) -> Timer:
    timer = Timer()
    train(EngineSpec.model_validate(spec), timer, data_dir=data_dir)
    return timer


def mnist_spec(model: str, epochs: int, batch_size: int, device: str) -> dict:
    return {"model": model, "dataset": {"name": "mnist", "download": False}, "learning_rate": 0.1,
            "epochs": epochs, "batch_size": batch_size, "device": device}


def median_after_first(seconds: list[float]) -> float:
    """The first epoch pays for warm-up (allocations, cuDNN autotuning): leave it out when there are more."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def cpu_benchmarks(data_dir: Path, epochs: int, batch_size: int) -> None:
    cpu = torch.device("cpu")
    rows = []
    for workers in (0, 2):
        seconds = dataloader_epochs(data_dir, epochs, batch_size, workers, cpu)
        rows.append([f"torchvision DataLoader (num_workers={workers})", median_after_first(seconds)])
    engine = engine_epochs(data_dir, mnist_spec("mlp", epochs, batch_size, "cpu"))
    rows.append(["trainboard engine (tensors in memory)", median_after_first(engine.epoch_seconds)])
    numpy_mlp = engine_epochs(data_dir, mnist_spec("mlp_numpy", epochs, batch_size, "cpu"))
    rows.append(["trainboard engine, NumPy MLP (hand-written)", median_after_first(numpy_mlp.epoch_seconds)])
    best_loader = min(row[1] for row in rows[:2])
    engine_seconds = rows[2][1]
    table = [[name, f"{value:.2f}", f"{best_loader / value:.2f}x"] for name, value in rows]
    print_table(f"MNIST MLP 784-128-64-10, batch {batch_size}, CPU: seconds per epoch (train + test), "
                f"median of epochs 2..{epochs}", ["loop", "s/epoch", "vs best DataLoader"], table)
    print(f"engine speed-up over the best DataLoader loop: {best_loader / engine_seconds:.2f}x (target >= 3x)")


def gpu_benchmarks(data_dir: Path, epochs: int) -> None:
    rows = []
    for label, spec in [
        ("ResNet-18, CIFAR-10, batch 512, bf16, channels_last", {
            "model": "resnet", "dataset": {"name": "cifar10", "download": False, "augment": True},
            "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}, "learning_rate": 0.2,
            "epochs": epochs, "batch_size": 512, "amp": "bf16", "channels_last": True, "device": "cuda"}),
        ("ResNet-18, CIFAR-10, batch 512, fp32", {
            "model": "resnet", "dataset": {"name": "cifar10", "download": False, "augment": True},
            "optimizer": {"name": "sgd", "momentum": 0.9}, "learning_rate": 0.2,
            "epochs": epochs, "batch_size": 512, "device": "cuda"}),
        ("traffic_sign_cnn (BN), 32x32 x 50k, batch 256, bf16", {
            "model": {"name": "traffic_sign_cnn", "batch_norm": True},
            "dataset": {"name": "cifar10", "download": False, "augment": False},
            "optimizer": "adam", "learning_rate": 0.001, "epochs": epochs, "batch_size": 256, "amp": "bf16",
            "channels_last": True, "device": "cuda"}),
    ]:
        timer = engine_epochs(data_dir, spec)
        rows.append([label, f"{median_after_first(timer.epoch_seconds):.3f}", f"{timer.epoch_seconds[0]:.3f}"])
    print_table(f"GPU ({torch.cuda.get_device_name()}): seconds per epoch, train + test",
                ["run", f"median epochs 2..{epochs}", "epoch 1 (warm-up)"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--gpu-only", action="store_true")
    args = parser.parse_args()
    print_machine()
    with contextlib.ExitStack() as stack:
        data_dir = temp_dir(stack, "trainboard-bench-data-")
        write_datasets(data_dir)
        if not args.gpu_only:
            cpu_benchmarks(data_dir, args.epochs, args.batch_size)
        if torch.cuda.is_available() and not args.cpu_only:
            gpu_benchmarks(data_dir, max(args.epochs, 3))
        elif not args.cpu_only:
            print("no CUDA device: GPU benchmarks skipped")


if __name__ == "__main__":
    raise SystemExit(main_wrapper(main))
