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


def deterministic_cross_entropy(logits, target, *, reduction: str = "mean", label_smoothing: float = 0.0):
    """`F.cross_entropy`, reduced here rather than in the loss: PyTorch's reduced per-pixel (2-D)
    NLL loss has no deterministic CUDA kernel, so `torch.use_deterministic_algorithms` (a spec's
    `deterministic`) refuses it, while the unreduced one is deterministic and the sum or mean of
    its values is too. Same values as `F.cross_entropy` on every device."""
    losses = F.cross_entropy(logits, target, reduction="none", label_smoothing=label_smoothing)
    return losses.sum() if reduction == "sum" else losses.mean()


def evaluate(
    model, x: torch.Tensor, y: torch.Tensor, *, task: str, num_classes: int, batch_size: int, prefix: str,
    tta_flip: bool = False, autocast=None,
) -> dict[str, float]:
    """Metrics over the given tensors, batched on their device, named `<prefix>_<metric>`:
    classification: loss, accuracy, balanced_accuracy (mean per-class recall);
    segmentation: loss; dice and iou, each image's score (mean of its foreground classes) averaged
    over the images; dice_pooled and iou_pooled, over every pixel of the set at once (mean of the
    foreground classes). An image whose truth and prediction both lack a class scores 1 for that
    class (nothing to find, nothing found); pooled over the set, an absent class scores 0."""
    model.eval()
    device = x.device
    total_loss = torch.zeros((), device=device)
    if task == "classification":
        confusion = torch.zeros(num_classes, num_classes, device=device, dtype=torch.long)
    else:
        intersection = torch.zeros(num_classes, device=device, dtype=torch.long)
        predicted_area = torch.zeros(num_classes, device=device, dtype=torch.long)
        true_area = torch.zeros(num_classes, device=device, dtype=torch.long)
        dice_sum = torch.zeros((), device=device)
        iou_sum = torch.zeros((), device=device)
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            inputs, target = x[start : start + batch_size], y[start : start + batch_size]
            if autocast is not None:
                with autocast():
                    logits = _predict(model, inputs, tta_flip, task)
            else:
                logits = _predict(model, inputs, tta_flip, task)
            per_sample = target[0].numel()  # 1 for a class index, H*W for a mask: the loss is per pixel
            total_loss += deterministic_cross_entropy(logits, target, reduction="sum") / per_sample
            predicted = logits.argmax(dim=1)
            if task == "classification":
                confusion += torch.bincount(
                    target * num_classes + predicted, minlength=num_classes * num_classes
                ).view(num_classes, num_classes)
            else:
                counts = _areas_per_image(predicted, target, num_classes)
                intersection += counts[0].sum(dim=0)
                predicted_area += counts[1].sum(dim=0)
                true_area += counts[2].sum(dim=0)
                dice, iou = _dice_and_iou(*counts, empty_scores=1.0)
                dice_sum += dice.mean(dim=1).sum()
                iou_sum += iou.mean(dim=1).sum()
    metrics = {f"{prefix}_loss": (total_loss / len(x)).item()}
    if task == "classification":
        correct = confusion.diag().float()
        per_class = confusion.sum(dim=1).float()
        present = per_class > 0
        metrics[f"{prefix}_accuracy"] = (correct.sum() / confusion.sum()).item()
        metrics[f"{prefix}_balanced_accuracy"] = (correct[present] / per_class[present]).mean().item()
    else:
        metrics[f"{prefix}_dice"] = (dice_sum / len(x)).item()
        metrics[f"{prefix}_iou"] = (iou_sum / len(x)).item()
        dice, iou = _dice_and_iou(intersection, predicted_area, true_area, empty_scores=0.0)
        metrics[f"{prefix}_dice_pooled"] = dice.mean().item()
        metrics[f"{prefix}_iou_pooled"] = iou.mean().item()
    return metrics


def _areas_per_image(predicted: torch.Tensor, target: torch.Tensor, num_classes: int):
    """Three (images, classes) counts: each image's pixels of each class predicted right, predicted, true."""
    images = len(target)
    bins = images * num_classes
    offset = torch.arange(images, device=target.device).view(-1, 1, 1) * num_classes  # a row of bins per image

    def count(labels: torch.Tensor) -> torch.Tensor:
        return torch.bincount(labels.flatten(), minlength=bins).view(images, num_classes)

    return count((target + offset)[predicted == target]), count(predicted + offset), count(target + offset)


def _dice_and_iou(intersection, predicted_area, true_area, *, empty_scores: float):
    """Dice and IoU of each foreground class (the last dimension's classes 1..), `empty_scores`
    where neither the prediction nor the truth has the class."""
    overlap = intersection[..., 1:].float()
    both = (predicted_area + true_area)[..., 1:].float()
    empty = both == 0
    dice = torch.where(empty, empty_scores, 2 * overlap / both.clamp(min=1))
    iou = torch.where(empty, empty_scores, overlap / (both - overlap).clamp(min=1))
    return dice, iou


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of the training device since the last reset (CUDA), or of the process (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
