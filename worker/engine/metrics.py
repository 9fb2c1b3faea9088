"""What the engine measures: evaluation of classifiers and segmenters on whole tensors (which way
each metric improves is the contract's: `trainboard.metrics`)."""

from __future__ import annotations

import resource

import torch
import torch.nn.functional as F


def _predict(model, x: torch.Tensor, tta_flip: bool, task: str) -> torch.Tensor:
    """Logits, averaged with the mirrored image's (mirrored back for masks) under TTA."""
    logits = model(x)
    if tta_flip:
        mirrored = model(torch.flip(x, dims=(3,)))
        if task == "segmentation":
            mirrored = torch.flip(mirrored, dims=(3,))
        logits = (logits.float().log_softmax(1) + mirrored.float().log_softmax(1)) / 2
    return logits.float()


def evaluate(
    model, x: torch.Tensor, y: torch.Tensor, *, task: str, num_classes: int, batch_size: int,
    tta_flip: bool = False, autocast=None,
) -> dict[str, float]:
    """Test metrics over the given tensors, batched on their device:
    classification: test_loss, test_accuracy, test_balanced_accuracy (mean per-class recall);
    segmentation: test_loss, test_dice and test_iou (over the whole set, mean of foreground classes)."""
    model.eval()
    device = x.device
    total_loss = torch.zeros((), device=device)
    if task == "classification":
        confusion = torch.zeros(num_classes, num_classes, device=device, dtype=torch.long)
    else:
        intersection = torch.zeros(num_classes, device=device, dtype=torch.long)
        predicted_area = torch.zeros(num_classes, device=device, dtype=torch.long)
        true_area = torch.zeros(num_classes, device=device, dtype=torch.long)
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            inputs, target = x[start : start + batch_size], y[start : start + batch_size]
            if autocast is not None:
                with autocast():
                    logits = _predict(model, inputs, tta_flip, task)
            else:
                logits = _predict(model, inputs, tta_flip, task)
            per_sample = target[0].numel()  # 1 for a class index, H*W for a mask: the loss is per pixel
            total_loss += F.cross_entropy(logits, target, reduction="sum") / per_sample
            predicted = logits.argmax(dim=1)
            if task == "classification":
                confusion += torch.bincount(
                    target * num_classes + predicted, minlength=num_classes * num_classes
                ).view(num_classes, num_classes)
            else:
                correct = predicted == target
                intersection += torch.bincount(target[correct], minlength=num_classes)
                predicted_area += torch.bincount(predicted.flatten(), minlength=num_classes)
                true_area += torch.bincount(target.flatten(), minlength=num_classes)
    metrics = {"test_loss": (total_loss / len(x)).item()}
    if task == "classification":
        correct = confusion.diag().float()
        per_class = confusion.sum(dim=1).float()
        present = per_class > 0
        metrics["test_accuracy"] = (correct.sum() / confusion.sum()).item()
        metrics["test_balanced_accuracy"] = (correct[present] / per_class[present]).mean().item()
    else:
        foreground = slice(1, num_classes)
        both = (predicted_area + true_area)[foreground].clamp(min=1).float()
        dice = 2 * intersection[foreground].float() / both
        iou = intersection[foreground].float() / (both - intersection[foreground]).clamp(min=1)
        metrics["test_dice"] = dice.mean().item()
        metrics["test_iou"] = iou.mean().item()
    return metrics


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of the training device since the last reset (CUDA), or of the process (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
