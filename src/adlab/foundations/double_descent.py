r"""Double descent of min-norm random-features regression (Belkin, Hsu, Ma & Mandal, PNAS 2019).

Fix $p$ random ReLU features $\phi(x) = \mathrm{relu}(V x / \sqrt d)$, $V \in \mathbb R^{p \times d}$
with i.i.d. $\mathcal N(0, 1)$ entries, and fit only the output weights $\theta \in \mathbb R^p$ to
$n$ training pairs by least squares, $\Phi \in \mathbb R^{n \times p}$, $\Phi_{ij} = \phi_j(x_i)$:

- $p < n$: the unique minimiser $\hat\theta = (\Phi^\top\Phi)^{-1}\Phi^\top y$;
- $p \ge n$: infinitely many interpolants; take the one of least norm,
  $\hat\theta = \Phi^\top(\Phi\Phi^\top)^{-1} y$.

Both are $\hat\theta = \Phi^{+} y$ (the Moore-Penrose pseudo-inverse). Near $p = n$ the smallest
singular value of $\Phi$ goes to 0, $\lVert\hat\theta\rVert$ blows up and so does the test error
(the peak at the *interpolation threshold*); beyond it, more features let the min-norm solution
be smoother and the test error falls again -- the second descent.
"""

from __future__ import annotations

import torch


def relu_features(x: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r"""$\phi(x) = \mathrm{relu}(V x / \sqrt d)$ for rows of ``x`` (n, d) and ``V`` (p, d) -> (n, p)."""
    return torch.relu(x @ V.T / x.shape[1] ** 0.5)


def min_norm_lstsq(Phi: torch.Tensor, y: torch.Tensor, rcond: float = 1e-10) -> torch.Tensor:
    r"""$\hat\theta = \Phi^{+} y$, the least-squares solution of least norm, via the SVD.

    $\Phi = U \Sigma V^\top$ -> $\Phi^{+} = V \Sigma^{+} U^\top$ with $\Sigma^{+}$ inverting the
    singular values above ``rcond`` times the largest (float64 recommended)."""
    U, S, Vh = torch.linalg.svd(Phi, full_matrices=False)  # (n, k), (k,), (k, p)
    keep = S > rcond * S.max()
    S_inv = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    # $\hat\theta = V \Sigma^{+} U^\top y$
    return Vh.T @ (S_inv * (U.T @ y))  # (p,)


def teacher(n: int, d: int, noise: float, g: torch.Generator, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$x \sim \mathcal N(0, I_d)$, $y = \tanh(w^\top x) + \varepsilon$, $\varepsilon \sim \mathcal N(0, \sigma^2)$."""
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ w) + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return x, y


def curve(
    n_train: int, n_test: int, d: int, features: list[int], noise: float, seed: int
) -> tuple[list[float], list[float], list[float]]:
    """Test MSE, train MSE and $\\lVert\\hat\\theta\\rVert$ of min-norm random-features regression, one per ``p``.

    One teacher and data set per seed; the features of width ``p`` are the first ``p`` rows of one
    random matrix, so the models are nested."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=torch.float64) / d**0.5
    x_tr, y_tr = teacher(n_train, d, noise, g, w)
    x_te, y_te = teacher(n_test, d, 0.0, g, w)
    V = torch.randn(max(features), d, generator=g, dtype=torch.float64)
    test, train, norms = [], [], []
    for p in features:
        Phi_tr, Phi_te = relu_features(x_tr, V[:p]), relu_features(x_te, V[:p])
        theta = min_norm_lstsq(Phi_tr, y_tr)
        train.append(float(((Phi_tr @ theta - y_tr) ** 2).mean()))
        test.append(float(((Phi_te @ theta - y_te) ** 2).mean()))
        norms.append(float(theta.norm()))
    return test, train, norms
