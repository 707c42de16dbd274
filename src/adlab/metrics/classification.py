"""Classification metrics: accuracy, confusion matrix, per-class accuracy."""

from __future__ import annotations

import torch


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label. logits (N, K), y (N,)."""
    return (logits.argmax(-1) == y).float().mean().item()


def confusion_matrix(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C[i, j] = number of samples of true class i predicted as j. (K, K) int64."""
    idx = y.long() * num_classes + pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class from a confusion matrix: diag / row sums. (K,)"""
    return cm.diag().double() / cm.sum(1).clamp(min=1).double()
