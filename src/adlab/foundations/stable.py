r"""Softmax and cross-entropy, naive and numerically stable.

$\mathrm{softmax}(z)_i = e^{z_i} / \sum_j e^{z_j}$ is unchanged by subtracting any constant $c$
from every logit: $e^{z_i - c} / \sum_j e^{z_j - c}$. The naive formula overflows as soon as
some $z_i$ exceeds $\log(\text{largest float})$ -- about 88.7 in float32 and 709.8 in float64 --
giving $\infty/\infty = \text{nan}$. With $c = m = \max_j z_j$ the largest exponent is $e^0 = 1$, nothing
overflows, the sum is at least 1, and the result is exact up to rounding.

The log-sum-exp trick does the same for $\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}$, and the
cross-entropy of a label $y$ is $-\log \mathrm{softmax}(z)_y = \mathrm{logsumexp}(z) - z_y$, computed
without ever forming a probability that could underflow to 0 ($\log 0 = -\infty$).

Clipping the logits (the lecture source caps them at 50) also avoids overflow, but it is not
exact: logits 1000 and 1001 both become 50 and their softmax becomes uniform instead of
$(1/(1+e), e/(1+e))$.
"""

from __future__ import annotations

import torch


def naive_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""$e^{z_i} / \sum_j e^{z_j}$ as written: overflows for large logits."""
    e = torch.exp(z)
    return e / e.sum(dim, keepdim=True)


def capped_softmax(z: torch.Tensor, cap: float = 50.0, dim: int = -1) -> torch.Tensor:
    """The naive softmax of logits clipped to [-cap, cap]: finite, but wrong when logits exceed the cap."""
    return naive_softmax(z.clamp(-cap, cap), dim)


def stable_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""$e^{z_i - m} / \sum_j e^{z_j - m}$ with $m = \max_j z_j$."""
    m = z.amax(dim, keepdim=True)  # (..., 1)
    e = torch.exp(z - m)  # every exponent <= 0
    return e / e.sum(dim, keepdim=True)


def naive_logsumexp(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""$\log \sum_j e^{z_j}$ as written."""
    return torch.log(torch.exp(z).sum(dim))


def logsumexp(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""$m + \log \sum_j e^{z_j - m}$, $m = \max_j z_j$ (for all $-\infty$ rows, $m$ is taken as 0)."""
    m = z.amax(dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m.squeeze(dim) + torch.log(torch.exp(z - m).sum(dim))


def naive_cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""$-\log(\mathrm{softmax}(z)_y)$ through the naive softmax, per row: (N, C), (N,) -> (N,)."""
    return -torch.log(naive_softmax(z).gather(1, y[:, None]).squeeze(1))


def stable_cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""$\mathrm{logsumexp}(z) - z_y$ per row: (N, C), (N,) -> (N,)."""
    return logsumexp(z, 1) - z.gather(1, y[:, None]).squeeze(1)
