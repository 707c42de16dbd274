r"""Autoregressive image models over binarised images: masked convolutions, PixelCNN, gated PixelCNN.

An image is a sequence of pixels in raster order (row by row, left to right), and its
probability factorises by the chain rule, as a sentence does (lecture 6, PixelRNN):

    $p(x) = \prod_{i=1}^{HW} p(x_i \mid x_1 \dots x_{i-1})$,  here $p(x_i = 1 \mid x_{<i}) = \sigma(\ell_i)$.

A convolution computes all $HW$ conditionals in one pass if pixel $i$'s output never sees
pixels $\ge i$: its kernel is *masked*. Mask A (first layer) hides the centre and everything
after it; mask B (later layers) also lets the centre through, because there the centre holds
features that already only depend on earlier pixels.

:class:`PixelCNN` is the plain stack (a 7x7 mask-A convolution, then residual 3x3 mask-B
layers). Its receptive field has a *blind spot* (pixels up and to the right it never sees).
:class:`GatedPixelCNN` (van den Oord et al. 2016, "Conditional image generation with PixelCNN
decoders") removes it with two stacks: a vertical stack that sees every pixel in the rows
above, and a horizontal stack that sees the pixels to the left in the current row and takes
the vertical stack in; both use gated activations $\tanh(W_f * x) \odot \sigma(W_g * x)$.

Loss: the Bernoulli negative log-likelihood in nats per image, $-\sum_i \ln p(x_i \mid x_{<i})$;
bits per dimension divides it by $HW \ln 2$. Sampling draws the pixels one at a time, each
after a full forward pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def raster_mask(kernel_size: int, mask_type: str) -> Tensor:
    """(k, k) mask of the pixels before the centre in raster order; mask ``"B"`` includes the centre."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    k, c = kernel_size, kernel_size // 2
    m = torch.zeros(k, k)
    m[:c] = 1  # the rows above
    m[c, :c] = 1  # the centre row, left of the centre
    if mask_type == "B":
        m[c, c] = 1
    return m


def vertical_mask(kernel_size: int, mask_center: bool) -> Tensor:
    """(k, k) mask of the rows up to the centre row (``mask_center``: strictly above it)."""
    c = kernel_size // 2
    m = torch.zeros(kernel_size, kernel_size)
    m[: c if mask_center else c + 1] = 1
    return m


def horizontal_mask(kernel_size: int, mask_center: bool) -> Tensor:
    """(1, k) mask of the centre row up to the centre (``mask_center``: strictly left of it)."""
    c = kernel_size // 2
    m = torch.zeros(1, kernel_size)
    m[0, : c if mask_center else c + 1] = 1
    return m


class MaskedConv2d(nn.Conv2d):
    """Conv2d whose weight is multiplied by a fixed mask: ``mask_type`` "A"/"B" (raster), or any ``mask`` (kh, kw).

    Padding keeps the spatial size ("same"); masked weights get zero gradient because the
    mask multiplies them inside the forward pass.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int = 3, mask_type: str = "B", mask: Tensor | None = None, dilation: int = 1
    ) -> None:
        if mask is None:
            mask = raster_mask(kernel_size, mask_type)
        kh, kw = mask.shape
        super().__init__(c_in, c_out, (kh, kw), padding=(dilation * (kh - 1) // 2, dilation * (kw - 1) // 2), dilation=dilation)
        self.register_buffer("mask", mask[None, None].clone())  # (1, 1, kh, kw)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class PixelCNN(nn.Module):
    """Plain PixelCNN: 7x7 mask A, ``n_layers`` residual ReLU + 3x3 mask-B layers, 1x1 head -> Bernoulli logits.

    Input x (B, 1, H, W) in {0, 1}; output logits (B, 1, H, W).
    """

    def __init__(self, c_hidden: int = 64, n_layers: int = 6, first_kernel: int = 7, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv_in = MaskedConv2d(1, c_hidden, first_kernel, "A")
        self.layers = nn.ModuleList([MaskedConv2d(c_hidden, c_hidden, kernel_size, "B") for _ in range(n_layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c_hidden, c_hidden, 1), nn.ReLU(), nn.Conv2d(c_hidden, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(2 * x - 1)  # centre the {0, 1} input
        for layer in self.layers:
            h = h + layer(F.relu(h))
        return self.head(h)


class GatedLayer(nn.Module):
    r"""One gated PixelCNN layer on the (vertical, horizontal) pair of feature maps.

    $v' = \tanh(V_f * v) \odot \sigma(V_g * v)$;
    $h' = h + W_{1\times1}\big[\tanh(H_f * h + U_f v_{feat}) \odot \sigma(H_g * h + U_g v_{feat})\big]$,
    where $v_{feat} = V * v$ only depends on rows above, so the horizontal stack may take it in.
    """

    def __init__(self, c: int, kernel_size: int = 3, dilation: int = 1) -> None:
        super().__init__()
        self.conv_v = MaskedConv2d(c, 2 * c, mask=vertical_mask(kernel_size, False), dilation=dilation)
        self.conv_h = MaskedConv2d(c, 2 * c, mask=horizontal_mask(kernel_size, False), dilation=dilation)
        self.v_to_h = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_out = nn.Conv2d(c, c, 1)

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        v_feat = self.conv_v(v)  # (B, 2c, H, W)
        v_f, v_g = v_feat.chunk(2, dim=1)
        v_new = torch.tanh(v_f) * torch.sigmoid(v_g)
        h_feat = self.conv_h(h) + self.v_to_h(v_feat)
        h_f, h_g = h_feat.chunk(2, dim=1)
        h_new = h + self.h_out(torch.tanh(h_f) * torch.sigmoid(h_g))
        return v_new, h_new


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN with vertical and horizontal stacks (no blind spot) -> Bernoulli logits.

    The first layer masks the centre of both stacks (the vertical stack sees rows strictly
    above, the horizontal stack pixels strictly to the left); later layers let it through.
    ``dilations`` (one per layer, default all 1) widen the receptive field.
    """

    def __init__(self, c_hidden: int = 64, n_layers: int = 8, kernel_size: int = 3, dilations: list[int] | None = None) -> None:
        super().__init__()
        dilations = dilations or [1] * n_layers
        if len(dilations) != n_layers:
            raise ValueError(f"need one dilation per layer ({n_layers}), got {len(dilations)}")
        self.v_in = MaskedConv2d(1, c_hidden, mask=vertical_mask(kernel_size, True))
        self.h_in = MaskedConv2d(1, c_hidden, mask=horizontal_mask(kernel_size, True))
        self.layers = nn.ModuleList([GatedLayer(c_hidden, kernel_size, d) for d in dilations])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c_hidden, c_hidden, 1), nn.ReLU(), nn.Conv2d(c_hidden, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = 2 * x - 1
        v, h = self.v_in(x), self.h_in(x)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    r"""$-\sum_i \ln p(x_i \mid x_{<i})$ in nats per image: logits and x (B, C, H, W) -> (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def bits_per_dim(nll_nats: Tensor | float, num_dims: int) -> Tensor | float:
    """Nats per image -> bits per pixel: nll / (D ln 2)."""
    return nll_nats / (num_dims * math.log(2))


@torch.no_grad()
def sample(
    model: nn.Module,
    n: int = 1,
    shape: tuple[int, int, int] = (1, 28, 28),
    generator: torch.Generator | None = None,
    x: Tensor | None = None,
    start: int = 0,
    return_probs: bool = False,
    crop_rows: bool = True,
) -> Tensor | tuple[Tensor, Tensor]:
    """Draw binary images pixel by pixel in raster order.

    Pixels before raster position ``start`` are taken from ``x`` (B, C, H, W) (completion of
    a given top part); the rest are sampled, each after a forward pass. ``return_probs`` also
    returns p(x_i = 1 | x_<i) for every pixel as it was sampled (B, C, H, W), whose entropy
    shows how uncertain the model was at each step.

    ``crop_rows``: the forward pass for a pixel in row r runs on rows 0..r only. That is exact
    for every model here: masked convolutions never look at lower rows, so their output in row
    r does not depend on what lies below it. It saves about half of the work of drawing whole
    images. ``crop_rows=False`` runs the full image each time (same result, a test checks it).
    """
    param = next(model.parameters())
    if x is None:
        x = torch.zeros((n,) + tuple(shape), device=param.device, dtype=param.dtype)
    else:
        x = x.to(param.device, param.dtype).clone()
    probs = torch.zeros_like(x)
    B, C, H, W = x.shape
    for i in range(start, H * W):
        r, c = divmod(i, W)
        p = torch.sigmoid(model(x[:, :, : r + 1] if crop_rows else x)[:, :, r, c])  # (B, C)
        probs[:, :, r, c] = p
        # draw where the generator lives (CPU generator, CUDA model: fine), compare where p lives
        u = torch.rand(p.shape, generator=generator, device=generator.device if generator is not None else p.device)
        x[:, :, r, c] = (u.to(p.device) < p).to(x.dtype)
    return (x, probs) if return_probs else x
