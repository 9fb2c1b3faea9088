"""A plain PyTorch training loop, tracked by trainboard in five added lines (each marked `# trainboard`).

    pip install trainboard torch              # the client alone: none of the server's packages
    export TRAINBOARD_API_URL=http://127.0.0.1:8000   # and TRAINBOARD_API_TOKEN if the server wants one
    python examples/track_my_script.py --lr 0.05 --epochs 20 --group spirals

The run appears on the dashboard at once, its curves grow live, Cancel stops it at the next epoch,
and it compares, groups (by `config.lr`...) and enters /stats like a run trained by a worker. With
the API down, points wait in memory (then on disk) and are delivered when it is back; with
TRAINBOARD_MODE=offline the run is written to ./trainboard-runs for a later `trainboard sync`.

The metric names are the engine's (train_loss, test_loss, test_accuracy, lr, epoch_seconds), so
this script's runs sit on the same charts as the worker's; any other name works too.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

import trainboard  # trainboard


def spirals(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals with noise: a small problem a linear model cannot solve."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (samples,), generator=generator)
    radius = torch.rand(samples, generator=generator) * 3 * math.pi + 0.5
    angle = radius + labels * math.pi
    points = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1) / (3 * math.pi)
    return points + 0.03 * torch.randn(points.shape, generator=generator), labels


def evaluate(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(inputs)
        return nn.functional.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--group", default=None)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train_x, train_y = spirals(2000, seed=1)
    test_x, test_y = spirals(500, seed=2)  # the test data does not move with the run's seed
    model = nn.Sequential(
        nn.Linear(2, args.width), nn.ReLU(), nn.Linear(args.width, args.width), nn.ReLU(), nn.Linear(args.width, 2)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    with trainboard.init(name=f"spirals lr={args.lr}", group=args.group, config=vars(args)) as run:  # trainboard
        for epoch in range(1, args.epochs + 1):
            started, total, seen = time.perf_counter(), 0.0, 0
            model.train()
            for batch in torch.randperm(len(train_x)).split(args.batch_size):
                loss = nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * len(batch), seen + len(batch)
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            test_loss, test_accuracy = evaluate(model, test_x, test_y)
            results = {"train_loss": total / seen, "test_loss": test_loss, "test_accuracy": test_accuracy, "lr": lr,
                       "epoch_seconds": time.perf_counter() - started}
            print(f"epoch {epoch}: " + ", ".join(f"{name} {value:.4g}" for name, value in results.items()))
            run.log(results, step=epoch)  # trainboard
            if run.should_stop:  # trainboard: someone pressed Cancel in the dashboard or the CLI
                break  # trainboard


if __name__ == "__main__":
    main()
