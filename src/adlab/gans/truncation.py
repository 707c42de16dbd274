r"""Latent sampling with the truncation trick (BigGAN).

BigGAN (Brock et al. 2019) samples $z \sim \mathcal N(0, I)$ during training
and, at sampling time, draws from a *truncated* normal: every entry with
$|z_i| > \tau$ is **resampled** until it falls inside $[-\tau, \tau]$. Smaller
$\tau$ trades diversity for fidelity (higher IS, and FID first better then worse).

The lecture text describes the trick as shrinking the standard deviation of
$z$; that is a different distribution (still unbounded). Both are here:

- ``mode="resample"`` (BigGAN): exact truncated standard normal on $[-\tau, \tau]$,
  variance $1 - \frac{2\tau\varphi(\tau)}{2\Phi(\tau) - 1}$;
- ``mode="scale"`` (the lecture's description): $z = \tau\,\epsilon$,
  $\epsilon \sim \mathcal N(0, I)$, i.e. standard deviation $\tau$.

StyleGAN's truncation in $W$ space ($w' = \bar w + \psi(w - \bar w)$) is in
``adlab.gans.stylegan``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["truncated_normal", "truncated_normal_variance"]


def truncated_normal(
    shape: tuple[int, ...] | torch.Size,
    truncation: float,
    generator: torch.Generator | None = None,
    mode: str = "resample",
    max_rounds: int = 1000,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Draw latents of ``shape`` with truncation $\tau$ = ``truncation`` (see module doc).

    ``mode="resample"`` redraws out-of-range entries (BigGAN); ``mode="scale"``
    multiplies a standard normal by $\tau$. Draws use ``generator`` (CPU).
    """
    if truncation <= 0:
        raise ValueError("truncation must be positive")
    z = torch.randn(shape, generator=generator, dtype=dtype)
    if mode == "scale":
        return truncation * z
    if mode != "resample":
        raise ValueError(f"unknown mode {mode!r}; use 'resample' or 'scale'")
    for _ in range(max_rounds):
        out = z.abs() > truncation
        n_out = int(out.sum())
        if n_out == 0:
            return z
        # redraw only the offending entries
        z[out] = torch.randn(n_out, generator=generator, dtype=dtype)
    raise RuntimeError(f"truncation {truncation} too small: entries still outside after {max_rounds} rounds")


def truncated_normal_variance(truncation: float) -> float:
    r"""Variance of $\mathcal N(0,1)$ truncated to $[-\tau, \tau]$: $1 - 2\tau\varphi(\tau)/(2\Phi(\tau)-1)$."""
    t = truncation
    phi = math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    mass = math.erf(t / math.sqrt(2))  # $2\Phi(\tau) - 1$
    return 1.0 - 2.0 * t * phi / mass
