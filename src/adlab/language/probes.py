r"""Looking inside sequence models: gradient paths, attention weights, cluster agreement.

**Gradient path.** How strongly can output $y_t$ depend on input $x_s$? The Jacobian
$J_{ts} = \partial y_t / \partial x_s$ measures it; its Frobenius norm

$$ \lVert J_{ts} \rVert_F^2 = \sum_{j} \lVert \nabla_{x_s} y_{t,j} \rVert^2 $$

is computed exactly with one backward pass per output coordinate $j$. In an RNN the path
from $x_s$ to $y_t$ passes through $t - s$ recurrent steps, and the Jacobian is a product
of $t - s$ step Jacobians, so it typically shrinks geometrically with the distance; in
self-attention every position reaches every other through one attention step, whatever the
distance. :func:`log_slope` fits $\log_{10} \lVert J_{ts} \rVert = a + b\,|t - s|$; the decay
over a span $D$ is the factor $10^{bD}$.

**Attention weights.** :func:`gpt_attention_weights` re-runs a GPT's blocks and returns
each head's softmax weights.

**Cluster agreement.** :func:`cluster_purity` clusters vectors with k-means and scores the
clustering against labels: the share of points whose cluster's majority label is their own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["jacobian_norms", "log_slope", "gpt_attention_weights", "cluster_purity"]


def jacobian_norms(f: Callable[[Tensor], Tensor], x: Tensor, t: int) -> Tensor:
    r"""$\lVert \partial y_t / \partial x_s \rVert_F$ for every input position ``s``, averaged over the batch.

    Args:
        f: maps ``(B, T, d_in)`` to ``(B, T, d_out)``; must treat batch rows independently.
        x: inputs ``(B, T, d_in)``.
        t: the output position.

    Returns:
        ``(T,)``: for each ``s``, the root-mean-square over the batch of the Frobenius norm
        of the ``(d_out, d_in)`` Jacobian.
    """
    x = x.detach().requires_grad_(True)
    y_t = f(x)[:, t]  # (B, d_out)
    sq = torch.zeros(x.shape[:2], dtype=torch.float64)  # (B, T)
    for j in range(y_t.shape[1]):
        # rows are independent, so the gradient of the batch sum gives each row's own gradient
        (g,) = torch.autograd.grad(y_t[:, j].sum(), x, retain_graph=j < y_t.shape[1] - 1)
        sq += g.double().pow(2).sum(-1)  # (B, T)
    return sq.mean(0).sqrt()


def log_slope(distance: Tensor, norms: Tensor, floor: float = 1e-300) -> tuple[float, float]:
    r"""Least-squares fit $\log_{10}(\mathrm{norm}) = a + b \cdot \mathrm{distance}$; returns ``(b, a)``.

    Norms below ``floor`` (underflow) are clamped to it.
    """
    d = distance.double().numpy()
    y = np.log10(np.maximum(norms.double().numpy(), floor))
    b, a = np.polyfit(d, y, 1)
    return float(b), float(a)


@torch.no_grad()
def gpt_attention_weights(model: nn.Module, idx: Tensor) -> list[Tensor]:
    """Each block's attention weights ``(B, H, T, T)`` for the token ids ``idx`` ``(B, T)`` of a
    :class:`adlab.language.gpt.GPT` (evaluation mode: no dropout)."""
    was_training = model.training
    model.eval()
    T = idx.shape[1]
    h = model.tok_emb(idx) + model.pos_emb(torch.arange(T, device=idx.device))
    maps = []
    for block in model.blocks:
        a_in = block.ln_1(h) if block.norm == "pre" else h
        _, w = block.attn(a_in, causal=block.causal, need_weights=True)
        maps.append(w)
        h = block(h)
    model.train(was_training)
    return maps


def cluster_purity(vectors: Tensor, labels: Tensor, k: int = 2, seed: int = 0) -> float:
    r"""k-means (k-means++, 10 restarts) on ``vectors`` ``(N, d)``, then purity against ``labels`` ``(N,)``.

    Purity is $\frac1N \sum_c \max_\ell |\{i \in c : y_i = \ell\}|$: 1 when each cluster holds one
    label, the majority label's share when the clusters ignore the labels.
    """
    from sklearn.cluster import KMeans

    X = vectors.double().numpy()
    assign = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
    y = labels.numpy()
    total = 0
    for c in np.unique(assign):
        total += np.bincount(y[assign == c]).max()
    return float(total / len(y))
