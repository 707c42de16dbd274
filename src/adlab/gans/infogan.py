r"""InfoGAN (Chen et al. 2016): latent codes the generator must keep recoverable.

The generator input is $(z, c)$ with incompressible noise $z$ and a structured
code $c$: here one 10-way categorical $c_1 \sim \mathrm{Cat}(1/10)$ (one-hot)
and two continuous $c_2, c_3 \sim U[-1, 1]$. InfoGAN maximises the mutual
information $I(c; G(z, c))$ through the variational lower bound

$L_I(G, Q) = E_{c \sim p(c), x \sim G(z,c)}[\log Q(c|x)] + H(c) \le I(c; G(z,c))$,

where $Q$ shares the discriminator's trunk. The objective is
$\min_{G,Q}\max_D V(D,G) - \lambda L_I(G,Q)$. For the categorical code
$\log Q$ is minus the cross-entropy; for the continuous codes $Q$ predicts a
factorised Gaussian (mean, log standard deviation) and $\log Q$ is its log
density. $H(c) = \log 10$ for the categorical code; for $U[-1,1]$ the
differential entropy is $\log 2$ per dimension.

The discriminator here returns the adversarial logit and $Q$'s outputs from
one trunk (DCGAN layout, 28x28).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models import DCGANGenerator, dcgan_init_

__all__ = [
    "InfoCodes",
    "sample_codes",
    "InfoGANGenerator",
    "InfoGANDiscriminator",
    "info_loss",
    "mutual_information_lower_bound",
]


@dataclass
class InfoCodes:
    """A batch of latent inputs of InfoGAN."""

    z: Tensor  # (B, z_dim) noise
    cat: Tensor  # (B,) class index of the categorical code
    cont: Tensor  # (B, n_cont) continuous codes in [-1, 1]
    n_categories: int

    def as_input(self) -> Tensor:
        """$[z, \\text{onehot}(c_1), c_{2:}]$ (B, z_dim + n_categories + n_cont)."""
        onehot = F.one_hot(self.cat, self.n_categories).to(self.z.dtype)
        return torch.cat([self.z, onehot, self.cont], dim=1)


def sample_codes(
    batch: int,
    z_dim: int = 62,
    n_categories: int = 10,
    n_cont: int = 2,
    generator: torch.Generator | None = None,
) -> InfoCodes:
    """$z \\sim \\mathcal N(0, I)$, $c_1$ uniform over categories, $c_{2:} \\sim U[-1, 1]$."""
    z = torch.randn(batch, z_dim, generator=generator)
    cat = torch.randint(0, n_categories, (batch,), generator=generator)
    cont = torch.rand(batch, n_cont, generator=generator) * 2 - 1
    return InfoCodes(z, cat, cont, n_categories)


class InfoGANGenerator(nn.Module):
    """DCGAN generator on the concatenated input $[z, c]$ -> (B, 1, 28, 28).

    ``hidden`` > 0 puts a fully connected layer (``hidden`` units, BN, ReLU) before the projection
    to the 7x7 map, as the InfoGAN paper's MNIST generator does (1024 units). Without it the code
    enters the 7x7 map additively, $W_z z + W_c c$.
    """

    def __init__(self, z_dim: int = 62, n_categories: int = 10, n_cont: int = 2, ngf: int = 64, channels: int = 1, hidden: int = 0):
        super().__init__()
        self.z_dim, self.n_categories, self.n_cont = z_dim, n_categories, n_cont
        d_in = z_dim + n_categories + n_cont
        self.fc = nn.Sequential(nn.Linear(d_in, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()) if hidden > 0 else nn.Identity()
        self.net = DCGANGenerator(hidden if hidden > 0 else d_in, ngf, channels)
        if hidden > 0:
            dcgan_init_(self.fc)

    def forward(self, codes: InfoCodes | Tensor) -> Tensor:
        x = codes.as_input() if isinstance(codes, InfoCodes) else codes  # (B, z_dim + K + n_cont)
        return self.net(self.fc(x))  # (B, C, 28, 28)


class InfoGANDiscriminator(nn.Module):
    """Shared trunk; ``forward(x)`` -> (logit (B,), cat_logits (B, K), mu (B, n_cont), log_std (B, n_cont))."""

    def __init__(self, n_categories: int = 10, n_cont: int = 2, ndf: int = 64, channels: int = 1):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1),  # 14x14
            nn.LeakyReLU(0.1),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False),  # 7x7
            nn.BatchNorm2d(2 * ndf),
            nn.LeakyReLU(0.1),
            nn.Flatten(),
            nn.Linear(2 * ndf * 49, 8 * ndf, bias=False),
            nn.BatchNorm1d(8 * ndf),
            nn.LeakyReLU(0.1),
        )
        self.d_head = nn.Linear(8 * ndf, 1)
        self.q_body = nn.Sequential(nn.Linear(8 * ndf, 2 * ndf, bias=False), nn.BatchNorm1d(2 * ndf), nn.LeakyReLU(0.1))
        self.q_cat = nn.Linear(2 * ndf, n_categories)
        self.q_mu = nn.Linear(2 * ndf, n_cont)
        self.q_log_std = nn.Linear(2 * ndf, n_cont)
        dcgan_init_(self)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        h = self.trunk(x)  # (B, 8ndf)
        q = self.q_body(h)
        return self.d_head(h).squeeze(1), self.q_cat(q), self.q_mu(q), self.q_log_std(q)


def _log_q(cat_logits: Tensor, mu: Tensor, log_std: Tensor, codes: InfoCodes) -> tuple[Tensor, Tensor]:
    # $\log Q(c_1|x)$ (B,) and $\log Q(c_{2:}|x) = \sum_k \log\mathcal N(c_k; \mu_k, \sigma_k^2)$ (B,)
    log_q_cat = -F.cross_entropy(cat_logits, codes.cat, reduction="none")
    log_q_cont = (-0.5 * ((codes.cont - mu) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(1)
    return log_q_cat, log_q_cont


def info_loss(
    cat_logits: Tensor,
    mu: Tensor,
    log_std: Tensor,
    codes: InfoCodes,
    lambda_cat: float = 1.0,
    lambda_cont: float = 0.1,
) -> Tensor:
    r"""$-\lambda_\text{cat} E\log Q(c_1|x) - \lambda_\text{cont} E\log Q(c_{2:}|x)$, minimised by G and Q.

    Defaults follow the InfoGAN paper ($\lambda = 1$ discrete, smaller for continuous).
    """
    log_q_cat, log_q_cont = _log_q(cat_logits, mu, log_std, codes)
    return -(lambda_cat * log_q_cat.mean() + lambda_cont * log_q_cont.mean())


def mutual_information_lower_bound(
    cat_logits: Tensor, mu: Tensor, log_std: Tensor, codes: InfoCodes
) -> dict[str, Tensor]:
    r"""$L_I = E\log Q(c|x) + H(c)$ per code (nats): ``{"cat": ..., "cont": ...}``.

    $H(c_1) = \log K$; $H(c_{2:}) = n_\text{cont}\log 2$ (uniform on $[-1,1]$).
    ``cat`` is at most $\log K$, reached when $Q$ recovers $c_1$ perfectly.
    """
    log_q_cat, log_q_cont = _log_q(cat_logits, mu, log_std, codes)
    return {
        "cat": log_q_cat.mean() + math.log(codes.n_categories),
        "cont": log_q_cont.mean() + codes.cont.shape[1] * math.log(2.0),
    }
