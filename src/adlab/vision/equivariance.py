r"""Translation equivariance of convolutions, measured.

A map $f$ between images is equivariant to a shift $S$ when shifting the input
shifts the output by the same amount, $f(Sx) = S f(x)$, and invariant when the
output does not move at all, $f(Sx) = f(x)$. A convolution (cross-correlation)
with weights $w$,

    $(w \star x)[p] = \sum_{u} w[u]\, x[p + u]$,

reads the same weights at every position, so $(w \star Sx)[p] = (w \star x)[p - t]$
for a shift by $t$: it is equivariant, exactly, wherever neither the output
position nor its shifted twin sees the border (zero padding and the pixels that
enter or leave the frame are not shifted copies of each other). A stack of
convolutions and point-wise nonlinearities stays equivariant with the receptive
field of the whole stack. A dense layer on flattened pixels has a separate
weight for every (input pixel, output unit) pair, so nothing ties its response
at one position to its response at another.

Equivariance is not invariance (the lecture text, L211, credits convolution
with invariance): the feature map moves with the object. Pooling adds
invariance: a global average over a circularly padded feature map does not
change at all under a circular shift, and a local max-pool does not change
under shifts smaller than its window that stay within one window.

The errors below are relative Frobenius norms over the interior: the pixels at
least ``margin`` away from every border.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

__all__ = ["shift", "interior", "equivariance_error", "invariance_error", "PixelMLP", "ConvStack"]


def shift(x: torch.Tensor, dy: int, dx: int, circular: bool = False) -> torch.Tensor:
    """Move the content of ``x`` (..., H, W) down by ``dy`` and right by ``dx`` pixels.

    Pixels that leave the frame are dropped and zeros enter, or, with ``circular``,
    they wrap around (``torch.roll``).
    """
    if circular:
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    H, W = x.shape[-2:]
    if abs(dy) >= H or abs(dx) >= W:
        return torch.zeros_like(x)
    out = torch.zeros_like(x)
    src_y = slice(max(0, -dy), H - max(0, dy))
    dst_y = slice(max(0, dy), H - max(0, -dy))
    src_x = slice(max(0, -dx), W - max(0, dx))
    dst_x = slice(max(0, dx), W - max(0, -dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def interior(x: torch.Tensor, margin: int) -> torch.Tensor:
    """``x`` (..., H, W) without a band of ``margin`` pixels along every border."""
    H, W = x.shape[-2:]
    if 2 * margin >= min(H, W):
        raise ValueError(f"margin {margin} leaves nothing of a {H}x{W} map")
    return x[..., margin : H - margin, margin : W - margin]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(torch.finfo(b.dtype).tiny))


@torch.no_grad()
def equivariance_error(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, dy: int, dx: int, margin: int) -> float:
    r"""$\|f(Sx) - S f(x)\| / \|S f(x)\|$ on the interior (``margin`` pixels from every border).

    Exactly 0 (up to rounding) for a convolution stack with a receptive-field radius
    $\rho$ when ``margin`` $\ge \rho + \max(|dy|, |dx|)$.
    """
    moved_out = f(shift(x, dy, dx))  # $f(Sx)$
    out_moved = shift(f(x), dy, dx)  # $S f(x)$
    return _rel(interior(moved_out, margin), interior(out_moved, margin))


@torch.no_grad()
def invariance_error(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, dy: int, dx: int, circular: bool = False, margin: int = 0) -> float:
    r"""$\|f(Sx) - f(x)\| / \|f(x)\|$ (on the interior when ``margin`` > 0, for ``f`` returning (B, C, H, W) maps)."""
    a, b = f(shift(x, dy, dx, circular)), f(x)
    if margin:
        if a.dim() != 4:  # a (B, K) output has no border to leave out: cropping it would drop rows and classes
            raise ValueError(f"margin applies to outputs that are (B, C, H, W) maps; f returned shape {tuple(a.shape)}")
        a, b = interior(a, margin), interior(b, margin)
    return _rel(a, b)


class ConvStack(nn.Sequential):
    """``layers`` same-padded 3x3 convolutions with ReLU between them: (B, C_in, H, W) -> (B, C, H, W).

    ``padding_mode="circular"`` wraps the borders, making the stack exactly
    equivariant to circular shifts everywhere.
    """

    def __init__(self, in_channels: int = 1, channels: int = 8, layers: int = 2, padding_mode: str = "zeros"):
        mods: list[nn.Module] = []
        c = in_channels
        for i in range(layers):
            mods.append(nn.Conv2d(c, channels, 3, padding=1, padding_mode=padding_mode))
            if i < layers - 1:
                mods.append(nn.ReLU())
            c = channels
        super().__init__(*mods)


class PixelMLP(nn.Module):
    """A dense network on flattened pixels that outputs an image of the input's size.

    (B, C, H, W) -> flatten -> Linear(CHW, hidden) -> ReLU -> Linear(hidden, C_out HW) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, image_size: int, hidden: int = 256, out_channels: int = 1):
        super().__init__()
        self.shape = (out_channels, image_size, image_size)
        n_in = in_channels * image_size * image_size
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, out_channels * image_size * image_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0], *self.shape)
