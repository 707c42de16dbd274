r"""Orthogonal Procrustes: the rotation that best maps one embedding space onto another.

Given paired rows $X, Y \in \mathbb{R}^{n \times d}$ (e.g. embeddings of $n$
translation pairs in two languages), find the orthogonal $W$ minimising

$$ \lVert X W - Y \rVert_F, \qquad W^\top W = I. $$

Expanding, this maximises $\mathrm{tr}(W^\top X^\top Y)$; with the SVD
$X^\top Y = U \Sigma V^\top$ the maximiser is

$$ W = U V^\top $$

(Schönemann, 1966). Row convention: a source vector $x$ (a row) maps to
$x W$. In the column convention $y \approx R x$ the same map is
$R = W^\top = V U^\top$, the SVD of $Y^\top X = V \Sigma U^\top$. This matches
``scipy.linalg.orthogonal_procrustes(X, Y)``.

A rotation keeps distances and angles, so the mapped space keeps its own
neighbourhoods; that two embedding spaces are (nearly) related by one is what
makes word translation from a few anchor pairs possible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["orthogonal_procrustes", "translation_accuracy"]


def orthogonal_procrustes(X: Tensor, Y: Tensor) -> Tensor:
    r"""The orthogonal ``(d, d)`` $W$ minimising $\lVert X W - Y \rVert_F$ for ``X``, ``Y`` ``(n, d)``."""
    if X.shape != Y.shape or X.dim() != 2:
        raise ValueError(f"X and Y must be matrices of the same shape, got {tuple(X.shape)} and {tuple(Y.shape)}")
    # $X^\top Y = U \Sigma V^\top$
    U, _, Vh = torch.linalg.svd(X.T @ Y)
    # $W = U V^\top$
    return U @ Vh


def translation_accuracy(
    X: Tensor, Y: Tensor, W: Tensor, source_ids: Tensor, target_ids: Tensor, k: int = 1
) -> float:
    """Accuracy@k of translating by nearest neighbour after mapping.

    Each source word ``X[source_ids[i]]`` is mapped to ``X[...] @ W`` and
    counts as translated when ``target_ids[i]`` is among the ``k`` rows of
    ``Y`` with the highest cosine similarity to it.
    """
    mapped = F.normalize(X[source_ids] @ W, dim=-1)  # (n, d)
    sims = mapped @ F.normalize(Y, dim=-1).T  # (n, V_target)
    top = sims.topk(k, dim=1).indices  # (n, k)
    hits = (top == target_ids[:, None]).any(dim=1)
    return hits.double().mean().item()
