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

Retrieval after mapping: plain nearest neighbour by cosine suffers from
*hubs*, target words that are the nearest neighbour of many sources. Cross-domain
similarity local scaling (CSLS; Conneau et al., 2018, "Word translation without
parallel data") discounts them. With unit vectors, $r_T(x)$ the mean cosine of
the mapped source $xW$ to its $k$ nearest targets and $r_S(y)$ the mean cosine
of target $y$ to its $k$ nearest mapped sources,

$$ \mathrm{CSLS}(xW, y) = 2 \cos(xW, y) - r_T(x) - r_S(y). $$

$r_T(x)$ is constant for one source, so it does not change that source's
ranking; $r_S(y)$ penalises the hubs.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["orthogonal_procrustes", "csls", "translation_accuracy"]


def orthogonal_procrustes(X: Tensor, Y: Tensor) -> Tensor:
    r"""The orthogonal ``(d, d)`` $W$ minimising $\lVert X W - Y \rVert_F$ for ``X``, ``Y`` ``(n, d)``."""
    if X.shape != Y.shape or X.dim() != 2:
        raise ValueError(f"X and Y must be matrices of the same shape, got {tuple(X.shape)} and {tuple(Y.shape)}")
    # $X^\top Y = U \Sigma V^\top$
    U, _, Vh = torch.linalg.svd(X.T @ Y)
    # $W = U V^\top$
    return U @ Vh


def csls(mapped: Tensor, Y: Tensor, k: int = 10) -> Tensor:
    r"""CSLS scores ``(n, m)`` between mapped sources ``mapped`` ``(n, d)`` and targets ``Y`` ``(m, d)``.

    Both are compared by cosine; $r_S(y)$ is the mean cosine of each target to its
    ``k`` nearest rows of ``mapped``, $r_T(x)$ that of each source to its ``k``
    nearest rows of ``Y``. ``mapped`` should hold the whole source vocabulary, not
    only the words being translated, since it defines the targets' neighbourhoods.
    """
    S = F.normalize(mapped, dim=-1) @ F.normalize(Y, dim=-1).T  # (n, m) cosines
    r_T = S.topk(min(k, S.shape[1]), dim=1).values.mean(1)  # (n,) source's mean cosine to its k nearest targets
    r_S = S.topk(min(k, S.shape[0]), dim=0).values.mean(0)  # (m,) target's mean cosine to its k nearest sources
    # $2\cos(xW, y) - r_T(x) - r_S(y)$
    return 2 * S - r_T[:, None] - r_S[None, :]


def translation_accuracy(
    X: Tensor,
    Y: Tensor,
    W: Tensor,
    source_ids: Tensor,
    target_ids: Tensor,
    k: int = 1,
    retrieval: Literal["nn", "csls"] = "nn",
    csls_k: int = 10,
) -> float:
    """Accuracy@k of translating by nearest neighbour (or CSLS) after mapping.

    Each source word ``X[source_ids[i]]`` is mapped to ``X[...] @ W`` and
    counts as translated when ``target_ids[i]`` is among the ``k`` rows of
    ``Y`` with the highest cosine similarity to it (``retrieval="nn"``) or the
    highest CSLS score (``"csls"``, neighbourhoods of ``csls_k`` words, the
    targets' ones among all rows of ``X`` mapped).
    """
    if retrieval == "csls":
        sims = csls(X @ W, Y, csls_k)[source_ids]  # (n, V_target)
    elif retrieval == "nn":
        mapped = F.normalize(X[source_ids] @ W, dim=-1)  # (n, d)
        sims = mapped @ F.normalize(Y, dim=-1).T  # (n, V_target)
    else:
        raise ValueError(f"retrieval must be 'nn' or 'csls', got {retrieval!r}")
    top = sims.topk(k, dim=1).indices  # (n, k)
    hits = (top == target_ids[:, None]).any(dim=1)
    return hits.double().mean().item()
