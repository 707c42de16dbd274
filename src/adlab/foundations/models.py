"""Models of the foundations lecture that are trained with torch (the numpy engine is in ``autodiff``)."""

from __future__ import annotations

import torch
from torch import nn


class SoftmaxRegression(nn.Module):
    """Multinomial logistic regression: p(y = k | x) = softmax(W x + b)_k.

    The model returns the logits z = W x + b; the softmax and the cross-entropy
    -log p(y | x) = -z_y + log sum_k exp(z_k) are fused in the loss for numerical stability.
    """

    def __init__(self, d_in: int, n_classes: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.zeros(n_classes, d_in))  # (K, D); zero init is fine: the loss is convex
        self.b = nn.Parameter(torch.zeros(n_classes))  # (K,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, D)
        # $z = W x + b$
        return x @ self.W.T + self.b  # (B, K)
