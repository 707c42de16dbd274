r"""Conditioning blocks for class-conditional GANs (cGAN with projection, SAGAN, BigGAN).

**Conditional batch normalisation** (de Vries et al. 2017; used by SN-GAN's
and BigGAN's generators): normalise without a learned affine, then scale and
shift with gains that depend on the condition $c$,
$\mathrm{CBN}(h; c) = \gamma(c) \odot \frac{h - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta(c)$.
$\gamma(c), \beta(c)$ come either from per-class embedding tables
(``num_classes``) or from a linear map of a conditioning vector (``cond_dim``;
BigGAN's shared class embedding concatenated with a chunk of $z$, "skip-z").
They start at $\gamma = 1$, $\beta = 0$ (class tables exactly; linear maps
with small random weights, $\gamma = 1 + W_\gamma c$, as BigGAN parametrises it).

**Projection discriminator head** (Miyato & Koyama 2018):
$D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x) \rangle$ where $\phi(x)$ is the
feature vector of the discriminator's trunk, $\psi$ a linear map to a scalar and
$e_y$ a learned class embedding. The inner product follows from writing the
log density ratio of conditional distributions with a log-linear model.

**Self-attention block** (SAGAN, Zhang et al. 2019): with $N = HW$ positions,
$f = W_f x$, $g = W_g x$, $h = W_h x$ (1x1 convolutions, $\bar C = C/8$ channels),
$\beta_{j,i} = \mathrm{softmax}_i(f_i^\top g_j)$, $o_j = W_v \sum_i \beta_{j,i} h_i$,
$y = \gamma\, o + x$ with a learned scalar $\gamma$ initialised to 0, so the
block starts as the identity and learns to use non-local evidence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConditionalBatchNorm", "ProjectionHead", "SelfAttention2d"]


class ConditionalBatchNorm(nn.Module):
    r"""$\gamma(c) \odot \mathrm{BN}(h) + \beta(c)$ for (B, C) or (B, C, H, W) inputs.

    Args:
        num_features: channels C.
        num_classes: condition on an integer class (embedding tables), or
        cond_dim: condition on a vector (B, cond_dim) through linear maps.
        eps, momentum: as in ``nn.BatchNorm2d`` (running statistics for eval mode).
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int | None = None,
        cond_dim: int | None = None,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ):
        super().__init__()
        if (num_classes is None) == (cond_dim is None):
            raise ValueError("give exactly one of num_classes and cond_dim")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        if num_classes is not None:
            self.gamma_embed = nn.Embedding(num_classes, num_features)
            self.beta_embed = nn.Embedding(num_classes, num_features)
            nn.init.ones_(self.gamma_embed.weight)
            nn.init.zeros_(self.beta_embed.weight)
            self.by_class = True
        else:
            self.gamma_linear = nn.Linear(cond_dim, num_features)
            self.beta_linear = nn.Linear(cond_dim, num_features)
            # $\gamma = 1 + W_\gamma c + b_\gamma$: near the identity affine map, but with small
            # random weights so that the condition (e.g. a shared embedding) gets gradient at once
            for lin in (self.gamma_linear, self.beta_linear):
                nn.init.normal_(lin.weight, std=0.02)
                nn.init.zeros_(lin.bias)
            self.by_class = False

    def gains(self, c: Tensor) -> tuple[Tensor, Tensor]:
        """$\\gamma(c)$, $\\beta(c)$, each (B, C)."""
        if self.by_class:
            return self.gamma_embed(c), self.beta_embed(c)
        return 1.0 + self.gamma_linear(c), self.beta_linear(c)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        # $\hat h = (h - \mu_B) / \sqrt{\sigma_B^2 + \epsilon}$ (batch statistics in training)
        h_hat = F.batch_norm(
            h, self.running_mean, self.running_var, None, None, self.training, self.momentum, self.eps
        )
        gamma, beta = self.gains(c)  # (B, C)
        shape = (h.shape[0], self.num_features) + (1,) * (h.dim() - 2)
        return gamma.view(shape) * h_hat + beta.view(shape)


class ProjectionHead(nn.Module):
    r"""$D(x, y) = \psi(\phi) + \langle e_y, \phi \rangle$ from trunk features $\phi$ (B, F).

    ``y=None`` gives the unconditional part $\psi(\phi)$ alone. Returns (B,).
    """

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.psi = nn.Linear(num_features, 1)
        self.embed = nn.Embedding(num_classes, num_features)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, phi: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.psi(phi).squeeze(1)  # (B,)
        if y is not None:
            # $\langle e_y, \phi(x) \rangle$
            out = out + (self.embed(y) * phi).sum(1)
        return out


class SelfAttention2d(nn.Module):
    r"""SAGAN self-attention over the $N = HW$ positions of a (B, C, H, W) map.

    Args:
        channels: C.
        reduction: $\bar C = C / \text{reduction}$ channels for $f, g, h$ (SAGAN: 8).
    """

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        c_bar = max(1, channels // reduction)
        self.f = nn.Conv2d(channels, c_bar, 1, bias=False)  # keys
        self.g = nn.Conv2d(channels, c_bar, 1, bias=False)  # queries
        self.h = nn.Conv2d(channels, c_bar, 1, bias=False)  # values
        self.v = nn.Conv2d(c_bar, channels, 1, bias=False)  # back to C channels
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: Tensor) -> Tensor:
        r"""$\beta$ (B, N, N): row $j$ is the distribution over positions $i$ attended by $j$."""
        f = self.f(x).flatten(2)  # (B, C̄, N)
        g = self.g(x).flatten(2)  # (B, C̄, N)
        # $s_{ji} = g_j^\top f_i$, softmax over i
        return torch.softmax(g.transpose(1, 2) @ f, dim=-1)  # (B, N, N)

    def forward(self, x: Tensor) -> Tensor:
        b, c, hh, ww = x.shape
        beta = self.attention(x)  # (B, N, N)
        h = self.h(x).flatten(2)  # (B, C̄, N)
        # $o_j = \sum_i \beta_{j,i} h_i$
        o = (h @ beta.transpose(1, 2)).view(b, -1, hh, ww)  # (B, C̄, H, W)
        # $y = \gamma W_v o + x$
        return self.gamma * self.v(o) + x
