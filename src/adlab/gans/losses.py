r"""GAN objectives, written as losses to *minimise*, from discriminator outputs.

Notation: $l_r = D(x)$ and $l_f = D(G(z))$ are the raw outputs of the
discriminator on real and generated samples (logits for the classifier-style
losses, unbounded critic values for Wasserstein and hinge); $\sigma$ is the
logistic sigmoid, so $D_\text{prob} = \sigma(l)$, $\log \sigma(l) = -\mathrm{softplus}(-l)$
and $\log(1-\sigma(l)) = -\mathrm{softplus}(l)$ (used for numerical stability).

| loss | discriminator / critic | generator |
|------|------------------------|-----------|
| minimax (saturating) | $-E\log\sigma(l_r) - E\log(1-\sigma(l_f))$ | $E\log(1-\sigma(l_f))$ |
| non-saturating | same as minimax | $-E\log\sigma(l_f)$ |
| Wasserstein | $E l_f - E l_r$ (+ clipping or $\lambda\,GP$) | $-E l_f$ |
| hinge | $E\max(0, 1-l_r) + E\max(0, 1+l_f)$ | $-E l_f$ |
| least squares | $\tfrac12 E(l_r-b)^2 + \tfrac12 E(l_f-a)^2$ | $\tfrac12 E(l_f-c)^2$ |

Why non-saturating: $\frac{\partial}{\partial l}\log(1-\sigma(l)) = -\sigma(l)$,
which vanishes when the discriminator confidently rejects the samples
($\sigma(l_f) \to 0$, early in training), whereas
$\frac{\partial}{\partial l}[-\log\sigma(l)] = -(1-\sigma(l)) \to -1$ there.

WGAN-GP (Gulrajani et al. 2017): $\lambda\,E_{\hat x}(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2$
with $\hat x = \epsilon x + (1-\epsilon)\tilde x$, $\epsilon \sim U[0,1]$ drawn per sample.
WGAN with weight clipping (Arjovsky et al. 2017): after each critic step, clip
every critic parameter to $[-c, c]$.

f-GAN (Nowozin et al. 2016): for an f-divergence $D_f(P\|Q) = E_Q f(p/q)$,
$D_f \ge \sup_T E_P[T(x)] - E_Q[f^*(T(x))]$ with $f^*$ the convex conjugate and
$T = g_f(V(x))$ an output activation keeping $T$ in the domain of $f^*$.
MMD-GAN: the critic maps samples to features, the generator minimises
$MMD^2$ between real and generated features while the critic maximises it.

``adversarial_step`` runs ``n_critic`` discriminator updates per generator
update, the alternation every loss above uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.metrics.divergences import mmd2_rbf

__all__ = [
    "d_loss_minimax",
    "g_loss_saturating",
    "g_loss_nonsaturating",
    "d_loss_wasserstein",
    "g_loss_wasserstein",
    "clip_weights_",
    "gradient_penalty",
    "d_loss_hinge",
    "g_loss_hinge",
    "d_loss_least_squares",
    "g_loss_least_squares",
    "FDivergence",
    "F_DIVERGENCES",
    "fgan_bound",
    "d_loss_fgan",
    "g_loss_fgan",
    "d_loss_mmd",
    "g_loss_mmd",
    "GANLoss",
    "LOSSES",
    "adversarial_step",
]


# ------------------------------------------------------------ classifier losses
def d_loss_minimax(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""$-E\log\sigma(l_r) - E\log(1-\sigma(l_f))$: binary cross-entropy, real=1, fake=0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_saturating(fake_logits: Tensor) -> Tensor:
    r"""Original minimax generator loss $E\log(1-\sigma(l_f))$ (minimised by G)."""
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    r"""Non-saturating generator loss $-E\log\sigma(l_f)$."""
    return F.softplus(-fake_logits).mean()


# ------------------------------------------------------------------ Wasserstein
def d_loss_wasserstein(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""Critic loss $E D(\tilde x) - E D(x)$ (minus the W1 estimate)."""
    return fake_scores.mean() - real_scores.mean()


def g_loss_wasserstein(fake_scores: Tensor) -> Tensor:
    r"""Generator loss $-E D(G(z))$."""
    return -fake_scores.mean()


@torch.no_grad()
def clip_weights_(critic: nn.Module, c: float = 0.01) -> None:
    """WGAN weight clipping: clamp every parameter of the critic to [-c, c] in place."""
    for p in critic.parameters():
        p.clamp_(-c, c)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""$E_{\hat x}(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2$, $\hat x = \epsilon x + (1-\epsilon)\tilde x$.

    $\epsilon \sim U[0, 1]$, one per sample (drawn from ``generator`` on the
    CPU and moved to the data's device, so a seed gives the same draw anywhere).
    The gradient is built with ``create_graph=True`` so the penalty is
    differentiable in the critic's parameters. Multiply by $\lambda$ (10 in
    WGAN-GP) and add to :func:`d_loss_wasserstein`. ``critic`` may be a lambda
    closing over extra inputs (e.g. class labels).
    """
    if real.shape != fake.shape:
        raise ValueError("real and fake batches must have the same shape")
    b = real.shape[0]
    eps = torch.rand(b, generator=generator, dtype=real.dtype).to(real.device)
    eps = eps.view(b, *([1] * (real.dim() - 1)))  # (B, 1, ..., 1)
    # $\hat x = \epsilon x + (1 - \epsilon) \tilde x$
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    grad_norm = grad.flatten(1).norm(2, dim=1)  # (B,)
    return ((grad_norm - 1.0) ** 2).mean()


# ------------------------------------------------------------------------ hinge
def d_loss_hinge(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""$E\max(0, 1 - D(x)) + E\max(0, 1 + D(\tilde x))$ (SN-GAN, SAGAN, BigGAN)."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def g_loss_hinge(fake_scores: Tensor) -> Tensor:
    r"""$-E D(G(z))$."""
    return -fake_scores.mean()


# ---------------------------------------------------------------- least squares
def d_loss_least_squares(real_scores: Tensor, fake_scores: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    r"""LSGAN $\tfrac12 E(D(x) - b)^2 + \tfrac12 E(D(\tilde x) - a)^2$ (targets b=1 real, a=0 fake)."""
    return 0.5 * ((real_scores - b) ** 2).mean() + 0.5 * ((fake_scores - a) ** 2).mean()


def g_loss_least_squares(fake_scores: Tensor, c: float = 1.0) -> Tensor:
    r"""LSGAN $\tfrac12 E(D(G(z)) - c)^2$."""
    return 0.5 * ((fake_scores - c) ** 2).mean()


# ------------------------------------------------------------------------ f-GAN
@dataclass(frozen=True)
class FDivergence:
    r"""An f-divergence for f-GAN: generator function $f$, conjugate $f^*$, output activation $g_f$."""

    name: str
    f: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]
    activation: Callable[[Tensor], Tensor]


# Table 2 of Nowozin et al. (2016). Note: with their $f$ for "Jensen-Shannon",
# $D_f = KL(P\|M) + KL(Q\|M) = 2\,JS(P, Q)$; with their "GAN" $f$,
# $D_f = 2\,JS - \log 4$.
F_DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence("kl", lambda u: u * torch.log(u), lambda t: torch.exp(t - 1.0), lambda v: v),
    "reverse_kl": FDivergence(
        "reverse_kl", lambda u: -torch.log(u), lambda t: -1.0 - torch.log(-t), lambda v: -torch.exp(-v)
    ),
    "pearson": FDivergence("pearson", lambda u: (u - 1.0) ** 2, lambda t: 0.25 * t * t + t, lambda v: v),
    "hellinger": FDivergence(
        "hellinger", lambda u: (torch.sqrt(u) - 1.0) ** 2, lambda t: t / (1.0 - t), lambda v: 1.0 - torch.exp(-v)
    ),
    "js": FDivergence(
        "js",
        lambda u: -(u + 1.0) * torch.log((1.0 + u) / 2.0) + u * torch.log(u),
        lambda t: -torch.log(2.0 - torch.exp(t)),
        lambda v: math.log(2.0) - F.softplus(-v),
    ),
    "gan": FDivergence(
        "gan",
        lambda u: u * torch.log(u) - (u + 1.0) * torch.log(u + 1.0),
        lambda t: -torch.log(1.0 - torch.exp(t)),
        lambda v: -F.softplus(-v),
    ),
}


def fgan_bound(v_real: Tensor, v_fake: Tensor, divergence: str | FDivergence) -> Tensor:
    r"""Variational lower bound $E_P[g_f(V)] - E_Q[f^*(g_f(V))]$ on $D_f(P\|Q)$."""
    fd = F_DIVERGENCES[divergence] if isinstance(divergence, str) else divergence
    t_real, t_fake = fd.activation(v_real), fd.activation(v_fake)
    return t_real.mean() - fd.conjugate(t_fake).mean()


def d_loss_fgan(v_real: Tensor, v_fake: Tensor, divergence: str | FDivergence = "kl") -> Tensor:
    """The critic maximises the bound: loss = -bound."""
    return -fgan_bound(v_real, v_fake, divergence)


def g_loss_fgan(v_fake: Tensor, divergence: str | FDivergence = "kl") -> Tensor:
    r"""The generator minimises the bound; only $-E_Q f^*(g_f(V))$ depends on it."""
    fd = F_DIVERGENCES[divergence] if isinstance(divergence, str) else divergence
    return -fd.conjugate(fd.activation(v_fake)).mean()


# -------------------------------------------------------------------- MMD-GAN
def d_loss_mmd(real_features: Tensor, fake_features: Tensor, sigmas=(1.0, 2.0, 4.0, 8.0)) -> Tensor:
    r"""The critic's feature map maximises $MMD^2(\phi(x), \phi(\tilde x))$: loss $= -MMD^2$."""
    return -mmd2_rbf(real_features, fake_features, sigmas, unbiased=True)


def g_loss_mmd(real_features: Tensor, fake_features: Tensor, sigmas=(1.0, 2.0, 4.0, 8.0)) -> Tensor:
    r"""The generator minimises $MMD^2$ (with identity features this is a GMMN)."""
    return mmd2_rbf(real_features, fake_features, sigmas, unbiased=True)


# ------------------------------------------------------------- registry + loop
@dataclass(frozen=True)
class GANLoss:
    """A pair of discriminator and generator losses from raw D outputs."""

    name: str
    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor], Tensor]


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", d_loss_minimax, g_loss_saturating),
    "nonsaturating": GANLoss("nonsaturating", d_loss_minimax, g_loss_nonsaturating),
    "wasserstein": GANLoss("wasserstein", d_loss_wasserstein, g_loss_wasserstein),
    "hinge": GANLoss("hinge", d_loss_hinge, g_loss_hinge),
    "least_squares": GANLoss("least_squares", d_loss_least_squares, g_loss_least_squares),
}


def adversarial_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real_batches: Iterator[Tensor],
    sample_z: Callable[[int], Tensor],
    loss: str | GANLoss = "nonsaturating",
    n_critic: int = 1,
    gp_weight: float = 0.0,
    clip: float | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    r"""One generator update after ``n_critic`` discriminator updates.

    For $k = 1..n_\text{critic}$: take the next real batch $x$, draw $z$
    (``sample_z(batch_size)``), and step D on ``loss.d(D(x), D(G(z).detach()))``
    plus ``gp_weight`` times :func:`gradient_penalty` (WGAN-GP: ``n_critic=5``,
    ``gp_weight=10``); with ``clip`` the critic weights are clipped after each
    step (WGAN: ``n_critic=5``, ``clip=0.01``). Then step G once on
    ``loss.g(D(G(z)))`` with a fresh $z$ (only ``opt_g`` steps; D's gradients
    from this pass are cleared at the next D step). Returns the last losses.
    """
    loss = LOSSES[loss] if isinstance(loss, str) else loss
    if n_critic < 1:
        raise ValueError("n_critic must be >= 1")
    stats: dict[str, float] = {}
    for _ in range(n_critic):
        x = next(real_batches)
        with torch.no_grad():
            fake = G(sample_z(x.shape[0]))
        opt_d.zero_grad(set_to_none=True)
        d_loss = loss.d(D(x), D(fake))
        if gp_weight > 0:
            gp = gradient_penalty(D, x, fake, generator=generator)
            d_loss = d_loss + gp_weight * gp
            stats["gp"] = float(gp.detach())
        d_loss.backward()
        opt_d.step()
        if clip is not None:
            clip_weights_(D, clip)
        stats["d_loss"] = float(d_loss.detach())
    opt_g.zero_grad(set_to_none=True)
    g_loss = loss.g(D(G(sample_z(x.shape[0]))))
    g_loss.backward()
    opt_g.step()
    stats["g_loss"] = float(g_loss.detach())
    return stats
