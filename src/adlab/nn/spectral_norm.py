r"""Spectral normalisation and orthogonal regularisation (SN-GAN, BigGAN).

**Spectral normalisation** (Miyato et al., 2018) divides a weight by its
largest singular value, $\bar W = W / \sigma(W)$, so that every linear layer is
1-Lipschitz and a network of them (with 1-Lipschitz activations) is too. The
largest singular value is estimated by power iteration on the matrix
$W \in \mathbb R^{m \times n}$ (a convolution kernel (out, in, kh, kw) is
reshaped to (out, in*kh*kw)):

$v \leftarrow W^\top u / \|W^\top u\|$, $u \leftarrow W v / \|W v\|$,
$\sigma(W) \approx u^\top W v$.

The vectors $u$, $v$ are buffers that persist across training steps, so one
iteration per step suffices once the weights change slowly; the iteration runs
only in training mode and without gradient, and $\sigma$ is differentiated
through $W$ alone (as in the paper and in ``torch.nn.utils.parametrizations``).

This module implements it as a ``torch.nn.utils.parametrize`` parametrisation:
``spectral_norm(layer)`` replaces ``layer.weight`` by $W/\sigma(W)$ computed
from ``layer.parametrizations.weight.original``.

**Orthogonal regularisation** (BigGAN, Brock et al. 2019):
$R_\beta(W) = \beta \|W^\top W \odot (1 - I)\|_F^2$, with the filters as the
columns of $W$: it pushes different filters towards orthogonality without
constraining their norms. In torch's (out, in, ...) layout the filters are the
rows of ``W.reshape(out, -1)``, so the Gram matrix is ``W @ W.T`` (out, out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = [
    "SpectralNorm",
    "spectral_norm",
    "remove_spectral_norm",
    "spectral_sigma",
    "orthogonal_regularization",
    "orthogonal_regularization_loss",
]


class SpectralNorm(nn.Module):
    r"""Parametrisation $W \mapsto W / \sigma(W)$ with persistent power-iteration vectors.

    Args:
        weight: the weight it will normalise (to size and initialise $u$, $v$).
        n_power_iterations: power-iteration steps per forward call in training mode.
        dim: the output dimension (0 for Linear/Conv, 1 for ConvTranspose).
        eps: added to norms to avoid division by zero.
    """

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        if n_power_iterations < 1:
            raise ValueError("n_power_iterations must be >= 1")
        if weight.dim() < 2:
            raise ValueError("spectral norm needs a weight with at least 2 dimensions")
        self.n_power_iterations = n_power_iterations
        self.dim = dim if dim >= 0 else dim + weight.dim()
        self.eps = eps
        w_mat = self._reshape(weight.detach())
        m, n = w_mat.shape
        g = torch.Generator().manual_seed(0)  # deterministic start, independent of the global RNG
        u = torch.randn(m, generator=g).to(weight)
        v = torch.randn(n, generator=g).to(weight)
        self.register_buffer("_u", F.normalize(u, dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(v, dim=0, eps=eps))
        self._power_method(w_mat, 15)  # warm start, as torch does

    def _reshape(self, weight: Tensor) -> Tensor:
        # (out, in, kh, kw) -> (out, in*kh*kw)
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)

    @torch.no_grad()
    def _power_method(self, w_mat: Tensor, n_iter: int) -> None:
        # $v \leftarrow W^\top u / \|W^\top u\|$, $u \leftarrow W v / \|W v\|$ (in place: buffers persist)
        for _ in range(n_iter):
            self._v.copy_(F.normalize(w_mat.T @ self._u, dim=0, eps=self.eps))
            self._u.copy_(F.normalize(w_mat @ self._v, dim=0, eps=self.eps))

    def sigma(self, weight: Tensor) -> Tensor:
        r"""Current estimate $u^\top W v$ (no power-iteration step)."""
        w_mat = self._reshape(weight)
        return torch.dot(self._u, w_mat @ self._v)

    def forward(self, weight: Tensor) -> Tensor:
        w_mat = self._reshape(weight)
        if self.training:
            self._power_method(w_mat.detach(), self.n_power_iterations)
        # clone: the buffers are updated in place at the next step, autograd needs these values
        u, v = self._u.clone(), self._v.clone()
        # $\sigma = u^\top W v$, differentiable in W only
        sigma = torch.dot(u, w_mat @ v)
        return weight / sigma


def spectral_norm(
    module: nn.Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> nn.Module:
    """Register :class:`SpectralNorm` on ``module.<name>`` and return the module.

    ``dim`` defaults to 1 for transposed convolutions (whose weight is
    (in, out, kh, kw)) and 0 otherwise.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"module {module} has no tensor parameter {name!r}")
    if dim is None:
        dim = 1 if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


def remove_spectral_norm(module: nn.Module, name: str = "weight") -> nn.Module:
    """Bake the current normalised weight into a plain parameter."""
    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return module


def spectral_sigma(module: nn.Module, name: str = "weight") -> Tensor:
    r"""The power-iteration estimate $\sigma(W)$ of a spectrally-normalised module's raw weight (detached)."""
    p = module.parametrizations[name]
    sn = next(m for m in p if isinstance(m, SpectralNorm))
    return sn.sigma(p.original).detach()


def orthogonal_regularization(weight: Tensor, beta: float = 1.0) -> Tensor:
    r"""$\beta\,\|W^\top W \odot (1 - I)\|_F^2$ with the filters of ``weight`` as columns of $W$.

    ``weight``: (out, ...), reshaped to (out, k); Gram matrix (out, out).
    """
    w = weight.flatten(1)  # (out, k): one filter per row
    gram = w @ w.T  # (out, out): $W^\top W$ in the paper's column convention
    off_diag = gram * (1.0 - torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype))
    return beta * off_diag.pow(2).sum()


def orthogonal_regularization_loss(model: nn.Module, beta: float = 1e-4) -> Tensor:
    """Sum of :func:`orthogonal_regularization` over every weight with >= 2 dims.

    Embeddings and normalisation gains (1-D) are skipped, as in BigGAN.
    ``beta=1e-4`` is BigGAN's value.
    """
    total = None
    for name, p in model.named_parameters():
        if p.dim() < 2 or "embed" in name:
            continue
        r = orthogonal_regularization(p, beta)
        total = r if total is None else total + r
    if total is None:
        return torch.zeros(())
    return total
