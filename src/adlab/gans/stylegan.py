r"""A toy StyleGAN (Karras et al. 2019, 2020): mapping network, per-layer styles and noise.

- **Mapping network** $f: z \mapsto w$: pixel-normalise $z$
  ($z / \sqrt{\mathrm{mean}(z^2) + \epsilon}$), then an MLP with LeakyReLU(0.2).
  $W$ is less entangled than $Z$ because it need not follow a fixed prior.
- **Synthesis network**: starts from a learned constant; every layer gets its
  own copy of $w$ turned into a style by a learned affine map $A$, and its own
  per-pixel noise $B$: $x \leftarrow x + b_c\, n$, $n \sim \mathcal N(0, 1)$
  (one (H, W) plane shared by the channels, a learned scale $b_c$ per channel,
  initialised to 0), which controls stochastic detail.
- **AdaIN** (StyleGAN 1): $\mathrm{AdaIN}(x_c, y) = y_{s,c}\frac{x_c - \mu(x_c)}{\sigma(x_c)} + y_{b,c}$
  with $(y_s, y_b) = A(w)$ and instance statistics $\mu, \sigma$ over (H, W).
- **Modulated convolution** (StyleGAN 2): scale the input channels of the
  kernel by the style, $w'_{oik} = s_i\,w_{oik}$, then demodulate,
  $w''_{oik} = w'_{oik} / \sqrt{\sum_{i,k} w'^2_{oik} + \epsilon}$, which
  restores unit output variance without normalising activations. Implemented
  as one grouped convolution with a kernel per sample.
- **Style mixing**: layers from ``mix_index`` on use $w_2 = f(z_2)$.
- **Truncation in W**: $w' = \bar w + \psi(w - \bar w)$, $\bar w$ tracked as an
  exponential moving average of $w$ during training.

Sizes here: constant 7x7 -> 14 -> 28, for 28x28 images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "pixel_norm",
    "MappingNetwork",
    "NoiseInjection",
    "AdaIN",
    "ModulatedConv2d",
    "StyleLayer",
    "StyleGenerator",
]


def pixel_norm(z: Tensor, eps: float = 1e-8) -> Tensor:
    r"""$z / \sqrt{\mathrm{mean}_j z_j^2 + \epsilon}$ over the feature dimension."""
    return z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + eps)


class MappingNetwork(nn.Module):
    """$f: z$ (B, z_dim) -> $w$ (B, w_dim): pixel norm, then ``n_layers`` Linear + LeakyReLU(0.2)."""

    def __init__(self, z_dim: int = 64, w_dim: int = 64, n_layers: int = 4):
        super().__init__()
        layers: list[nn.Module] = []
        d = z_dim
        for _ in range(n_layers):
            layers += [nn.Linear(d, w_dim), nn.LeakyReLU(0.2)]
            d = w_dim
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(pixel_norm(z))


class NoiseInjection(nn.Module):
    r"""$x + b \odot n$: one noise plane $n$ (B, 1, H, W), learned per-channel scales $b$ (init 0)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        if noise is None:
            b, _, h, w = x.shape
            noise = torch.randn(b, 1, h, w, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.weight.view(1, -1, 1, 1) * noise


class AdaIN(nn.Module):
    r"""$y_s \odot \mathrm{IN}(x) + y_b$ with $(y_s, y_b) = A(w)$; $A$ starts at $y_s = 1$, $y_b = 0$."""

    def __init__(self, channels: int, w_dim: int, eps: float = 1e-5):
        super().__init__()
        self.affine = nn.Linear(w_dim, 2 * channels)
        nn.init.normal_(self.affine.weight, std=0.01)
        with torch.no_grad():
            self.affine.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))
        self.eps = eps

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        y_s, y_b = self.affine(w).chunk(2, dim=1)  # (B, C) each
        # instance norm over (H, W)
        mu = x.mean(dim=(2, 3), keepdim=True)
        sigma = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + self.eps).sqrt()
        return y_s[:, :, None, None] * (x - mu) / sigma + y_b[:, :, None, None]


class ModulatedConv2d(nn.Module):
    r"""StyleGAN2 convolution with weight (de)modulation by the style $s = A(w)$ (B, in)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True, eps: float = 1e-8
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)  # equalised learning rate
        self.affine = nn.Linear(w_dim, in_channels)
        nn.init.ones_(self.affine.bias)  # style starts at 1
        self.demodulate, self.eps = demodulate, eps
        self.padding = kernel_size // 2

    def modulated_weight(self, w: Tensor) -> Tensor:
        """Per-sample kernels (B, out, in, k, k)."""
        s = self.affine(w)  # (B, in)
        weight = self.scale * self.weight[None] * s[:, None, :, None, None]  # $w'_{oik} = s_i w_{oik}$
        if self.demodulate:
            # $w''_{oik} = w'_{oik} / \sqrt{\sum_{i,k} w'^2_{oik} + \epsilon}$
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + self.eps)
        return weight

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        b, c, h, wd = x.shape
        weight = self.modulated_weight(w)  # (B, O, I, k, k)
        out = F.conv2d(
            x.reshape(1, b * c, h, wd), weight.reshape(-1, c, *weight.shape[3:]), padding=self.padding, groups=b
        )  # (1, B*O, H, W): one group per sample
        return out.view(b, -1, h, wd)


class StyleLayer(nn.Module):
    """[upsample x2] -> 3x3 conv -> noise -> LeakyReLU -> AdaIN (``modulated=False``, StyleGAN 1)
    or [upsample x2] -> modulated 3x3 conv -> noise -> bias -> LeakyReLU (``modulated=True``, StyleGAN 2)."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, upsample: bool = False, modulated: bool = False
    ):
        super().__init__()
        self.upsample, self.modulated = upsample, modulated
        if modulated:
            self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim)
            self.bias = nn.Parameter(torch.zeros(out_channels))
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
            self.adain = AdaIN(out_channels, w_dim)
        self.noise = NoiseInjection(out_channels)

    def forward(
        self, x: Tensor, w: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.modulated:
            x = self.noise(self.conv(x, w), noise, generator)
            return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2)
        x = F.leaky_relu(self.noise(self.conv(x), noise, generator), 0.2)
        return self.adain(x, w)


class StyleGenerator(nn.Module):
    """Toy style-based generator: $z$ (B, z_dim) -> (B, out_channels, 28, 28).

    Layers: constant (C, 7, 7) -> StyleLayer 7x7 -> (up) 14x14 -> 14x14 -> (up) 28x28
    -> 28x28 -> 1x1 conv (``tanh`` if ``output_tanh``). ``n_layers`` styles and noise planes.
    """

    def __init__(
        self,
        z_dim: int = 64,
        w_dim: int = 64,
        channels: int = 64,
        out_channels: int = 1,
        mapping_layers: int = 4,
        modulated: bool = False,
        output_tanh: bool = True,
        w_avg_beta: float = 0.995,
    ):
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.const = nn.Parameter(torch.randn(1, channels, 7, 7))
        c2 = max(channels // 2, 1)
        self.layers = nn.ModuleList(
            [
                StyleLayer(channels, channels, w_dim, upsample=False, modulated=modulated),  # 7x7
                StyleLayer(channels, channels, w_dim, upsample=True, modulated=modulated),  # 14x14
                StyleLayer(channels, channels, w_dim, upsample=False, modulated=modulated),
                StyleLayer(channels, c2, w_dim, upsample=True, modulated=modulated),  # 28x28
                StyleLayer(c2, c2, w_dim, upsample=False, modulated=modulated),
            ]
        )
        self.to_image = nn.Conv2d(c2, out_channels, 1)
        self.output_tanh = output_tanh
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def noise_shapes(self, batch: int) -> list[tuple[int, int, int, int]]:
        """Shapes of the per-layer noise planes, for passing fixed noise."""
        sizes = [7, 14, 14, 28, 28]
        return [(batch, 1, s, s) for s in sizes]

    def styles(self, z: Tensor, z_mix: Tensor | None = None, mix_index: int | None = None, psi: float = 1.0) -> Tensor:
        """Per-layer $w$ (B, n_layers, w_dim), with optional style mixing and truncation."""
        w = self.mapping(z)  # (B, w_dim)
        if self.training:
            with torch.no_grad():  # $\bar w \leftarrow \beta \bar w + (1-\beta)\,\mathrm{mean}(w)$
                self.w_avg.lerp_(w.detach().mean(0), 1.0 - self.w_avg_beta)
        ws = w[:, None, :].expand(-1, self.n_layers, -1)
        if z_mix is not None:
            if mix_index is None or not 0 <= mix_index <= self.n_layers:
                raise ValueError("style mixing needs 0 <= mix_index <= n_layers")
            w2 = self.mapping(z_mix)[:, None, :].expand(-1, self.n_layers, -1)
            layer = torch.arange(self.n_layers, device=z.device)[None, :, None]
            ws = torch.where(layer < mix_index, ws, w2)
        if psi != 1.0:
            ws = self.w_avg + psi * (ws - self.w_avg)  # $w' = \bar w + \psi (w - \bar w)$
        return ws

    def synthesis(
        self, ws: Tensor, noise: list[Tensor] | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Image from per-layer styles ``ws`` (B, n_layers, w_dim); ``noise``: one plane per layer."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], None if noise is None else noise[i], generator)
        x = self.to_image(x)
        return torch.tanh(x) if self.output_tanh else x

    def forward(
        self,
        z: Tensor,
        noise: list[Tensor] | None = None,
        z_mix: Tensor | None = None,
        mix_index: int | None = None,
        psi: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        return self.synthesis(self.styles(z, z_mix, mix_index, psi), noise, generator)
