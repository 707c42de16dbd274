r"""LAPGAN (Denton et al. 2015), a toy version: a Laplacian pyramid of conditional GANs.

Laplacian pyramid of an image $I_0$ with $L$ levels: $I_{k+1} = d(I_k)$
(downsample $\times 1/2$), residuals $h_k = I_k - u(I_{k+1})$ (upsample
$\times 2$), $k = 0..L-1$, and the coarsest image $I_L$. Reconstruction is
exact by construction: $I_k = u(I_{k+1}) + h_k$.

LAPGAN generates coarse-to-fine: a base GAN samples $\tilde I_L$; then at
each level a conditional generator $G_k$ takes the upsampled coarse image
$l_k = u(\tilde I_{k+1})$ and noise $z_k$ and produces a residual,
$\tilde I_k = l_k + G_k(z_k, l_k)$. Each level is trained as its own
conditional GAN on real pairs $(l_k, h_k)$ from the pyramid of training
images, so the levels train independently (and in parallel).

Sizes: 28x28 with two levels gives 28 -> 14 -> 7.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "downsample",
    "upsample",
    "laplacian_pyramid",
    "reconstruct",
    "ResidualGenerator",
    "ResidualDiscriminator",
    "LAPGAN",
]


def downsample(x: Tensor) -> Tensor:
    """$d$: 2x2 average pooling, (B, C, H, W) -> (B, C, H/2, W/2)."""
    return F.avg_pool2d(x, 2)


def upsample(x: Tensor) -> Tensor:
    """$u$: bilinear upsampling x2, (B, C, H, W) -> (B, C, 2H, 2W)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """``[h_0, ..., h_{L-1}, I_L]``: residuals from fine to coarse, then the coarsest image."""
    if x.shape[-1] % (2**levels) or x.shape[-2] % (2**levels):
        raise ValueError(f"spatial size {tuple(x.shape[-2:])} is not divisible by 2**{levels}")
    out = []
    current = x
    for _ in range(levels):
        coarse = downsample(current)
        out.append(current - upsample(coarse))  # $h_k = I_k - u(d(I_k))$
        current = coarse
    out.append(current)
    return out


def reconstruct(pyramid: list[Tensor]) -> Tensor:
    """Invert :func:`laplacian_pyramid`: $I_k = u(I_{k+1}) + h_k$ from coarse to fine."""
    image = pyramid[-1]
    for h in reversed(pyramid[:-1]):
        image = upsample(image) + h
    return image


class ResidualGenerator(nn.Module):
    """$G_k(z, l)$: (B, C, H, W) coarse-upsampled image + a noise plane -> residual (B, C, H, W)."""

    def __init__(self, channels: int = 1, hidden: int = 32, noise_channels: int = 1):
        super().__init__()
        self.noise_channels = noise_channels
        self.net = nn.Sequential(
            nn.Conv2d(channels + noise_channels, hidden, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 3, 1, 1),
        )

    def forward(self, l: Tensor, z: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        if z is None:
            shape = (l.shape[0], self.noise_channels, l.shape[2], l.shape[3])
            z = torch.randn(shape, generator=generator, dtype=l.dtype).to(l.device)
        return self.net(torch.cat([l, z], dim=1))


class ResidualDiscriminator(nn.Module):
    """$D_k(h, l)$: scores a residual given its coarse context -> logits (B,)."""

    def __init__(self, channels: int = 1, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, hidden, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, 1, 3, 1, 1),
        )

    def forward(self, h: Tensor, l: Tensor) -> Tensor:
        return self.net(torch.cat([h, l], dim=1)).mean(dim=(1, 2, 3))


class LAPGAN(nn.Module):
    """Base MLP GAN at the coarsest size plus one conditional residual GAN per level.

    ``generators[k]`` / ``discriminators[k]`` act at level k (0 = finest).
    """

    def __init__(self, channels: int = 1, size: int = 28, levels: int = 2, z_dim: int = 32, hidden: int = 32):
        super().__init__()
        if size % (2**levels):
            raise ValueError("size must be divisible by 2**levels")
        self.channels, self.levels, self.z_dim = channels, levels, z_dim
        self.coarse = size // 2**levels
        n_coarse = channels * self.coarse**2
        self.base_generator = nn.Sequential(
            nn.Linear(z_dim, 8 * hidden), nn.ReLU(), nn.Linear(8 * hidden, n_coarse), nn.Tanh()
        )
        self.base_discriminator = nn.Sequential(
            nn.Flatten(), nn.Linear(n_coarse, 8 * hidden), nn.LeakyReLU(0.2), nn.Linear(8 * hidden, 1)
        )
        self.generators = nn.ModuleList(ResidualGenerator(channels, hidden) for _ in range(levels))
        self.discriminators = nn.ModuleList(ResidualDiscriminator(channels, hidden) for _ in range(levels))

    def base_sample(self, z: Tensor) -> Tensor:
        """$\\tilde I_L = G_L(z)$, (B, C, s, s) at the coarsest size."""
        return self.base_generator(z).view(z.shape[0], self.channels, self.coarse, self.coarse)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Coarse-to-fine sampling: (n, C, size, size)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.z_dim, generator=generator).to(device)
        image = self.base_sample(z)
        for k in reversed(range(self.levels)):
            l = upsample(image)  # $l_k = u(\tilde I_{k+1})$
            image = l + self.generators[k](l, generator=generator)  # $\tilde I_k = l_k + G_k(z_k, l_k)$
        return image

    def training_pairs(self, x: Tensor) -> tuple[list[tuple[Tensor, Tensor]], Tensor]:
        """From real images: ``[(l_k, h_k) for k in 0..L-1]`` and the coarsest image $I_L$."""
        images = [x]  # $I_0, ..., I_L$
        for _ in range(self.levels):
            images.append(downsample(images[-1]))
        # level k: context $l_k = u(I_{k+1})$, target residual $h_k = I_k - l_k$
        pairs = [(upsample(images[k + 1]), images[k] - upsample(images[k + 1])) for k in range(self.levels)]
        return pairs, images[-1]
