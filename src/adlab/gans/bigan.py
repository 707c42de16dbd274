r"""BiGAN / ALI (Donahue et al. 2017; Dumoulin et al. 2017): adversarially learned inference.

Besides the generator $G: z \mapsto x$, an encoder $E: x \mapsto z$ is learned,
and the discriminator scores *joint* pairs: $(x, E(x))$ from the data and
$(G(z), z)$ from the prior:

$\min_{G,E}\max_D\; E_{x \sim p_\text{data}}[\log D(x, E(x))] + E_{z \sim p_z}[\log(1 - D(G(z), z))]$.

At the optimum the two joint distributions match, which forces $E = G^{-1}$.
$E$ never sees generated images and $G$ never sees $E$'s output: they only
interact through $D$. ``bigan_losses`` uses the non-saturating form for
$G, E$ (labels swapped: real pairs should look generated and vice versa).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models import DCGANGenerator, dcgan_init_

__all__ = ["BiGANEncoder", "BiGANGenerator", "JointDiscriminator", "bigan_losses"]


class BiGANEncoder(nn.Module):
    """(B, channels, 28, 28) -> $z$ (B, z_dim) (deterministic encoder)."""

    def __init__(self, z_dim: int = 50, nef: int = 64, channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, nef, 4, 2, 1),  # 14x14
            nn.LeakyReLU(0.2),
            nn.Conv2d(nef, 2 * nef, 4, 2, 1, bias=False),  # 7x7
            nn.BatchNorm2d(2 * nef),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * nef * 49, z_dim),
        )
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class BiGANGenerator(DCGANGenerator):
    """The DCGAN generator, $z$ (B, z_dim) -> (B, channels, 28, 28)."""

    def __init__(self, z_dim: int = 50, ngf: int = 64, channels: int = 1):
        super().__init__(z_dim, ngf, channels)


class JointDiscriminator(nn.Module):
    """$D(x, z)$ -> logits (B,): a conv branch for $x$, an MLP branch for $z$, a joint MLP.

    Dropout in the joint layers as in BiGAN (set ``dropout=0`` to disable).
    """

    def __init__(self, z_dim: int = 50, ndf: int = 64, channels: int = 1, hidden: int = 512, dropout: float = 0.2):
        super().__init__()
        self.x_branch = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),  # (B, 2ndf*49)
        )
        self.z_branch = nn.Sequential(nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * ndf * 49 + hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )
        dcgan_init_(self)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        h = torch.cat([self.x_branch(x), self.z_branch(z)], dim=1)  # (B, 2ndf*49 + hidden)
        return self.joint(h).squeeze(1)


def bigan_losses(D: nn.Module, x: Tensor, e_x: Tensor, g_z: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    r"""(D loss, G+E loss) for one batch.

    D: $-\log D(x, E(x)) - \log(1 - D(G(z), z))$;
    G, E (non-saturating): $-\log(1 - D(x, E(x))) - \log D(G(z), z)$.
    Pass tensors with their graphs; detach where a player must not be updated
    (or give each optimiser only its own parameters, as the training loop should).
    """
    real = D(x, e_x)
    fake = D(g_z, z)
    d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
    ge_loss = F.softplus(real).mean() + F.softplus(-fake).mean()
    return d_loss, ge_loss
