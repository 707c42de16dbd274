r"""Sample-quality metrics for generative models, over user-supplied features.

The library never ships an Inception network: every function here takes the
features (or class probabilities) of a network the user chose, for instance a
classifier trained on the same data set. Hence "Inception-style" score.

- **FID** (Fréchet distance between Gaussians fitted to two feature sets):
  $FID = \|\mu_1-\mu_2\|^2 + \mathrm{Tr}(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2})$.
  The trace of the matrix square root is computed as
  $\mathrm{Tr}(\Sigma_1\Sigma_2)^{1/2} = \mathrm{Tr}(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2})^{1/2}
  = \sum_i \sqrt{\lambda_i}$, the $\lambda_i$ being the eigenvalues of the
  symmetric PSD matrix $\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}$ (``torch.linalg.eigh``,
  float64, negative round-off clamped to 0). ``method="scipy"`` uses
  ``scipy.linalg.sqrtm`` instead. FID is biased upward at small sample sizes.
- **KID**: the unbiased $MMD^2$ with the cubic polynomial kernel
  $k(x,y) = (x^\top y / d + 1)^3$, averaged over random subsets; unbiased, so its
  expectation is 0 when both sets come from one distribution.
- **Inception-style score**: $IS = \exp\big(E_x KL(p(y|x)\,\|\,p(y))\big)$ with
  the marginal $p(y) = E_x p(y|x)$ of the *generated* samples. (The lecture text
  states it against the training labels; that is not the standard definition.)
  It is 1 when every prediction is the same and equals the number of classes
  $K$ when predictions are confident (one-hot) and uniformly spread over classes.
- **Nearest-neighbour memorisation check**: for each generated sample, the
  distance to its nearest training sample (threshold rule) and the ratio of the
  nearest to the second-nearest distance (a copy has ratio near 0; the rule
  "ratio < 1/3" is the one used for diffusion-model memorisation studies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .divergences import mmd2_from_kernels

__all__ = [
    "feature_statistics",
    "frechet_distance",
    "fid",
    "polynomial_kernel",
    "kid",
    "inception_score",
    "inception_score_splits",
    "MemorisationReport",
    "nearest_neighbour_memorisation",
]


def _features(x) -> Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    t = t.detach().to("cpu", torch.float64)
    if t.dim() != 2:
        raise ValueError(f"features must be a matrix (n, d), got shape {tuple(t.shape)}")
    return t


def _flat(x) -> Tensor:
    """(n, ...) samples as an (n, d) float64 matrix."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return _features(t.reshape(len(t), -1))


def feature_statistics(features) -> tuple[Tensor, Tensor]:
    """Mean (d,) and unbiased covariance (d, d) of a feature matrix (n, d), float64."""
    f = _features(features)
    if f.shape[0] < 2:
        raise ValueError("need at least two feature vectors for a covariance")
    mu = f.mean(0)
    fc = f - mu
    sigma = fc.T @ fc / (f.shape[0] - 1)
    return mu, sigma


def _sqrtm_psd(a: Tensor) -> Tensor:
    """Symmetric square root of a symmetric PSD matrix via eigh."""
    a = 0.5 * (a + a.T)
    evals, evecs = torch.linalg.eigh(a)
    return (evecs * evals.clamp_min(0).sqrt()) @ evecs.T


def _trace_sqrt_product(sigma1: Tensor, sigma2: Tensor, method: str) -> float:
    r"""$\mathrm{Tr}\,(\Sigma_1 \Sigma_2)^{1/2}$."""
    if method == "eigh":
        s1h = _sqrtm_psd(sigma1)
        m = s1h @ sigma2 @ s1h  # symmetric PSD, similar to $\Sigma_1\Sigma_2$
        evals = torch.linalg.eigvalsh(0.5 * (m + m.T))
        return float(evals.clamp_min(0).sqrt().sum())
    if method == "scipy":
        import scipy.linalg

        covmean = scipy.linalg.sqrtm(sigma1.numpy() @ sigma2.numpy())
        if isinstance(covmean, tuple):  # older scipy returned (sqrtm, errest) with disp=False
            covmean = covmean[0]
        return float(np.real(np.trace(covmean)))
    raise ValueError(f"unknown method {method!r}; use 'eigh' or 'scipy'")


def frechet_distance(mu1, sigma1, mu2, sigma2, method: str = "eigh") -> float:
    r"""Fréchet distance between $\mathcal N(\mu_1,\Sigma_1)$ and $\mathcal N(\mu_2,\Sigma_2)$.

    $\|\mu_1-\mu_2\|^2 + \mathrm{Tr}\,\Sigma_1 + \mathrm{Tr}\,\Sigma_2 - 2\,\mathrm{Tr}(\Sigma_1\Sigma_2)^{1/2}$.
    ``method``: ``"eigh"`` (default, torch float64) or ``"scipy"`` (``scipy.linalg.sqrtm``).
    """
    mu1, mu2 = (torch.as_tensor(v, dtype=torch.float64).flatten() for v in (mu1, mu2))
    sigma1, sigma2 = (torch.as_tensor(v, dtype=torch.float64) for v in (sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError("mean and covariance shapes do not agree")
    diff = mu1 - mu2
    tr_covmean = _trace_sqrt_product(sigma1, sigma2, method)
    value = float(diff @ diff) + float(torch.trace(sigma1) + torch.trace(sigma2)) - 2.0 * tr_covmean
    return max(value, 0.0) if value > -1e-9 else value


def fid(features1, features2, method: str = "eigh") -> float:
    """FID between two feature matrices (n1, d) and (n2, d)."""
    mu1, s1 = feature_statistics(features1)
    mu2, s2 = feature_statistics(features2)
    return frechet_distance(mu1, s1, mu2, s2, method=method)


# ------------------------------------------------------------------------- KID
def polynomial_kernel(x: Tensor, y: Tensor, degree: int = 3, coef0: float = 1.0) -> Tensor:
    r"""$k(x, y) = (x^\top y / d + c)^{p}$; KID uses $p = 3$, $c = 1$."""
    d = x.shape[1]
    return (x @ y.T / d + coef0) ** degree


def kid(
    features1,
    features2,
    n_subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    r"""Kernel Inception Distance: mean and standard deviation over subsets.

    Each subset draws ``subset_size`` rows (without replacement) from each set
    (``min`` with the set sizes) and computes the unbiased $MMD^2$ with the cubic
    kernel. Both numbers are returned as floats (the mean can be negative).
    """
    f1, f2 = _features(features1), _features(features2)
    if f1.shape[1] != f2.shape[1]:
        raise ValueError("feature dimensions differ")
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise ValueError("KID needs at least two samples per set")
    vals = []
    for _ in range(n_subsets):
        x = f1[torch.randperm(len(f1), generator=generator)[:m]]
        y = f2[torch.randperm(len(f2), generator=generator)[:m]]
        k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        vals.append(float(mmd2_from_kernels(k_xx, k_yy, k_xy, unbiased=True)))
    v = torch.tensor(vals, dtype=torch.float64)
    return float(v.mean()), float(v.std(unbiased=True)) if len(vals) > 1 else 0.0


# ------------------------------------------------------------------------- IS
def _probs(probs, from_logits: bool) -> Tensor:
    p = _features(probs)
    if from_logits:
        return torch.softmax(p, dim=1)
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise ValueError("probabilities must be non-negative rows summing to 1 (pass from_logits=True for logits)")
    return p


def _is_of(p: Tensor) -> float:
    # $p(y) = E_x p(y|x)$; $\exp E_x KL(p(y|x)\|p(y))$
    py = p.mean(0, keepdim=True)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, py)).sum(1)
    return math.exp(float(kl.mean()))


def inception_score(probs, from_logits: bool = False) -> float:
    r"""$\exp\big(E_x KL(p(y|x) \| p(y))\big)$ over all rows of ``probs`` (n, K)."""
    return _is_of(_probs(probs, from_logits))


def inception_score_splits(probs, splits: int = 10, from_logits: bool = False) -> tuple[float, float]:
    """The usual reporting: the score on ``splits`` consecutive chunks, mean and std."""
    p = _probs(probs, from_logits)
    scores = torch.tensor([_is_of(c) for c in torch.chunk(p, splits)], dtype=torch.float64)
    return float(scores.mean()), float(scores.std(unbiased=True)) if splits > 1 else 0.0


# ------------------------------------------------------------- memorisation
@dataclass
class MemorisationReport:
    """Nearest-neighbour distances of generated samples to a training set."""

    nn_distance: Tensor
    """(n_gen,) distance to the nearest training sample."""
    nn_index: Tensor
    """(n_gen,) index of that training sample."""
    ratio: Tensor
    """(n_gen,) nearest / second-nearest training distance (0 for an exact copy)."""
    fraction_below_threshold: float | None
    """Fraction with ``nn_distance < threshold`` (None when no threshold was given)."""
    fraction_ratio: float
    """Fraction with ``ratio < ratio_threshold``: flagged as memorised copies."""


def nearest_neighbour_memorisation(
    generated,
    train,
    threshold: float | None = None,
    ratio_threshold: float = 1.0 / 3.0,
    chunk_size: int = 1024,
) -> MemorisationReport:
    r"""Flag generated samples that sit on top of a training sample.

    ``generated`` (n, d) and ``train`` (N, d) are flattened samples or features
    (N >= 2). For each generated $x$, with $d_1 \le d_2$ its two smallest
    Euclidean distances to the training set: memorised if $d_1 <$ ``threshold``
    (absolute rule) or $d_1/d_2 <$ ``ratio_threshold`` (relative rule).
    """
    g, t = _flat(generated), _flat(train)
    if g.shape[1] != t.shape[1]:
        raise ValueError("generated and training samples have different sizes")
    if len(t) < 2:
        raise ValueError("the training set needs at least two samples")
    d_list, i_list = [], []
    for start in range(0, len(g), chunk_size):
        d = torch.cdist(g[start : start + chunk_size], t)  # (c, N)
        vals, idx = torch.topk(d, k=2, dim=1, largest=False)
        d_list.append(vals)
        i_list.append(idx[:, 0])
    d12 = torch.cat(d_list)
    d1, d2 = d12[:, 0], d12[:, 1]
    ratio = torch.where(d2 > 0, d1 / d2.clamp_min(1e-300), torch.zeros_like(d1))
    frac_thr = None if threshold is None else float((d1 < threshold).double().mean())
    return MemorisationReport(
        nn_distance=d1,
        nn_index=torch.cat(i_list),
        ratio=ratio,
        fraction_below_threshold=frac_thr,
        fraction_ratio=float((ratio < ratio_threshold).double().mean()),
    )
