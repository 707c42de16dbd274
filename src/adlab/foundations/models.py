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


class MLP(nn.Module):
    r"""A multilayer perceptron $h_l = \phi(W_l h_{l-1} + b_l)$, logits $W_{L+1} h_L + b_{L+1}$.

    Regularisers, each off by default:

    - ``dropout`` $p$: during training each hidden unit is zeroed with probability $p$ and the
      survivors are scaled by $1/(1-p)$ (inverted dropout), so at test time nothing changes;
    - ``input_noise`` $\sigma$: during training $x \leftarrow x + \varepsilon$, $\varepsilon \sim \mathcal N(0, \sigma^2 I)$.
    """

    def __init__(
        self,
        sizes: list[int],
        activation: str = "relu",
        dropout: float = 0.0,
        input_noise: float = 0.0,
    ) -> None:
        super().__init__()
        acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}")
        self.input_noise = input_noise
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(acts[activation]())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*layers)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, D)
        if self.training and self.input_noise > 0:
            # $x \leftarrow x + \varepsilon$, $\varepsilon \sim \mathcal N(0, \sigma^2 I)$
            x = x + self.input_noise * torch.randn_like(x)
        return self.net(x)  # (B, K)
