r"""Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired).

**pix2pix** (Isola et al. 2017): a conditional GAN. $G$ maps a source image $x$
to a target $y$ (a U-Net: encoder-decoder with skip connections, so
low-level structure passes straight through); the *PatchGAN* discriminator
scores overlapping patches of the pair $(x, y)$ and returns a map of logits.

$G^* = \arg\min_G\max_D\; \mathcal L_{cGAN}(G, D) + \lambda\,E\|y - G(x)\|_1$, $\lambda = 100$.

**CycleGAN** (Zhu et al. 2017): two generators $G: A \to B$, $F: B \to A$ and
two discriminators, trained with the least-squares GAN loss plus
cycle consistency
$\mathcal L_{cyc} = E_a\|F(G(a)) - a\|_1 + E_b\|G(F(b)) - b\|_1$ ($\lambda_{cyc} = 10$)
and optionally the identity loss $E_b\|G(b) - b\|_1 + E_a\|F(a) - a\|_1$
($\lambda_{id} = 0.5\,\lambda_{cyc}$ in the paper).

Both generators here are small U-Nets; spatial sizes must be divisible by
$2^\text{depth}$ (depth 2 for 28x28, 3 for 32x32).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .losses import d_loss_least_squares, d_loss_minimax, g_loss_least_squares, g_loss_nonsaturating

__all__ = [
    "UNetGenerator",
    "PatchGANDiscriminator",
    "pix2pix_generator_loss",
    "pix2pix_discriminator_loss",
    "cycle_consistency_loss",
    "identity_loss",
    "CycleGAN",
]


class UNetGenerator(nn.Module):
    """Small U-Net: ``depth`` stride-2 conv downsamplings, mirrored upsamplings with skips, ``tanh``.

    (B, in_channels, H, W) -> (B, out_channels, H, W); H, W divisible by 2**depth.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base: int = 32, depth: int = 2):
        super().__init__()
        self.depth = depth
        self.stem = nn.Sequential(nn.Conv2d(in_channels, base, 3, 1, 1), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList()
        chans = [base]
        c = base
        for _ in range(depth):
            self.downs.append(
                nn.Sequential(nn.Conv2d(c, 2 * c, 4, 2, 1), nn.InstanceNorm2d(2 * c, affine=True), nn.LeakyReLU(0.2))
            )
            c *= 2
            chans.append(c)
        self.ups = nn.ModuleList()
        for k in range(depth):
            skip = chans[depth - k - 1]
            self.ups.append(
                nn.Sequential(nn.ConvTranspose2d(c, skip, 4, 2, 1), nn.InstanceNorm2d(skip, affine=True), nn.ReLU())
            )
            c = 2 * skip  # after concatenation with the skip
        self.out = nn.Conv2d(c, out_channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % (2**self.depth) or x.shape[-2] % (2**self.depth):
            raise ValueError(f"spatial size {tuple(x.shape[-2:])} must be divisible by {2 ** self.depth}")
        h = self.stem(x)
        skips = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()  # the bottleneck itself is not a skip
        for up in self.ups:
            h = up(h)
            h = torch.cat([h, skips.pop()], dim=1)  # U-Net skip connection
        return torch.tanh(self.out(h))


class PatchGANDiscriminator(nn.Module):
    """PatchGAN: (B, in_channels, H, W) -> logit map (B, 1, h, w), one logit per receptive-field patch.

    For pix2pix pass the concatenated pair ``torch.cat([x, y], 1)``
    (``in_channels`` = source + target channels); for CycleGAN a single image.
    """

    def __init__(self, in_channels: int = 2, base: int = 32, n_layers: int = 2):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = base
        for _ in range(1, n_layers):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.InstanceNorm2d(2 * c, affine=True), nn.LeakyReLU(0.2)]
            c *= 2
        layers += [nn.Conv2d(c, 2 * c, 3, 1, 1), nn.InstanceNorm2d(2 * c, affine=True), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(2 * c, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def pix2pix_generator_loss(
    d_fake_logits: Tensor, fake: Tensor, target: Tensor, lambda_l1: float = 100.0
) -> tuple[Tensor, dict[str, float]]:
    r"""$-E\log D(x, G(x)) + \lambda\,E\|y - G(x)\|_1$; returns (loss, parts)."""
    adv = g_loss_nonsaturating(d_fake_logits)
    l1 = (fake - target).abs().mean()
    return adv + lambda_l1 * l1, {"adv": float(adv.detach()), "l1": float(l1.detach())}


def pix2pix_discriminator_loss(d_real_logits: Tensor, d_fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy over all patches, halved as in pix2pix (slows D relative to G)."""
    return 0.5 * d_loss_minimax(d_real_logits, d_fake_logits)


def cycle_consistency_loss(real_a: Tensor, rec_a: Tensor, real_b: Tensor, rec_b: Tensor) -> Tensor:
    r"""$E\|F(G(a)) - a\|_1 + E\|G(F(b)) - b\|_1$."""
    return (rec_a - real_a).abs().mean() + (rec_b - real_b).abs().mean()


def identity_loss(real_a: Tensor, f_of_a: Tensor, real_b: Tensor, g_of_b: Tensor) -> Tensor:
    r"""$E\|F(a) - a\|_1 + E\|G(b) - b\|_1$: each generator leaves images of its target domain alone."""
    return (f_of_a - real_a).abs().mean() + (g_of_b - real_b).abs().mean()


class CycleGAN(nn.Module):
    """Two U-Net generators ($G$: A->B, $F$: B->A) and two PatchGAN discriminators.

    ``generator_loss(a, b)`` -> (loss, parts, fake_a, fake_b);
    ``discriminator_loss(a, b, fake_a, fake_b)`` -> loss (fakes detached).
    The adversarial terms are least-squares (LSGAN), as in the paper.
    """

    def __init__(
        self,
        channels_a: int = 1,
        channels_b: int = 1,
        base: int = 32,
        depth: int = 2,
        lambda_cyc: float = 10.0,
        lambda_id: float = 5.0,
    ):
        super().__init__()
        self.G = UNetGenerator(channels_a, channels_b, base, depth)  # A -> B
        self.F = UNetGenerator(channels_b, channels_a, base, depth)  # B -> A
        self.D_a = PatchGANDiscriminator(channels_a, base)
        self.D_b = PatchGANDiscriminator(channels_b, base)
        self.lambda_cyc, self.lambda_id = lambda_cyc, lambda_id

    def generator_parameters(self):
        return list(self.G.parameters()) + list(self.F.parameters())

    def discriminator_parameters(self):
        return list(self.D_a.parameters()) + list(self.D_b.parameters())

    def generator_loss(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, float], Tensor, Tensor]:
        fake_b, fake_a = self.G(a), self.F(b)
        adv = g_loss_least_squares(self.D_b(fake_b)) + g_loss_least_squares(self.D_a(fake_a))
        # $F(G(a)) \approx a$, $G(F(b)) \approx b$
        cyc = cycle_consistency_loss(a, self.F(fake_b), b, self.G(fake_a))
        loss = adv + self.lambda_cyc * cyc
        parts = {"adv": float(adv.detach()), "cycle": float(cyc.detach())}
        if self.lambda_id > 0:
            if a.shape[1] != b.shape[1]:
                raise ValueError("the identity loss needs domains with the same number of channels")
            idt = identity_loss(a, self.F(a), b, self.G(b))
            loss = loss + self.lambda_id * idt
            parts["identity"] = float(idt.detach())
        return loss, parts, fake_a, fake_b

    def discriminator_loss(self, a: Tensor, b: Tensor, fake_a: Tensor, fake_b: Tensor) -> Tensor:
        return d_loss_least_squares(self.D_a(a), self.D_a(fake_a.detach())) + d_loss_least_squares(
            self.D_b(b), self.D_b(fake_b.detach())
        )
