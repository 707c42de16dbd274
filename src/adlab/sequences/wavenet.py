r"""WaveNet-style autoregressive model: dilated causal convolutions, gated units, mu-law audio codes.

A causal convolution only looks back: output $t$ depends on inputs $\le t$ (pad
$(k-1)d$ zeros on the left, none on the right). Stacking layers with dilations
$d_1, d_2, \dots$ (1, 2, 4, ..., 512: doubling) grows the receptive field exponentially
with depth at a linear cost. For kernel size $k$ the receptive field in closed form is

    $R = (k - 1) \sum_l d_l + 1$

(each layer adds $(k-1) d_l$ samples of look-back). Each residual block computes
$z = \tanh(W_f *_d x) \odot \sigma(W_g *_d x)$ (gated activation), returns
$x + W_{res} z$ to the next block and $W_{skip} z$ to the output, which sums the skips:
$\mathrm{logits} = W_2\, \mathrm{ReLU}(W_1\, \mathrm{ReLU}(\sum_l \mathrm{skip}_l))$.
Output $t$ is the distribution of sample $t+1$ over 256 classes.

Audio in $[-1, 1]$ becomes 256 classes by mu-law companding ($\mu = 255$), which spends the
levels where quiet sounds are:

    $F(x) = \mathrm{sign}(x) \frac{\ln(1 + \mu |x|)}{\ln(1 + \mu)}$,  $F^{-1}(y) = \mathrm{sign}(y) \frac{(1 + \mu)^{|y|} - 1}{\mu}$

then $F(x) \in [-1, 1]$ is quantised uniformly to the integers $0 \dots \mu$.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.sequences.lm import sample_from_logits


def receptive_field(kernel_size: int, dilations: Sequence[int]) -> int:
    """Samples seen by one output of a stack of causal convolutions: (k - 1) * sum(dilations) + 1."""
    return (kernel_size - 1) * sum(dilations) + 1


def wavenet_dilations(layers_per_stack: int = 10, stacks: int = 1) -> list[int]:
    """[1, 2, 4, ..., 2^(layers_per_stack - 1)] repeated ``stacks`` times."""
    return [2**i for i in range(layers_per_stack)] * stacks


# ---- mu-law companding


def mu_law_compress(x: Tensor, mu: int = 255) -> Tensor:
    r"""$F(x) = \mathrm{sign}(x) \ln(1 + \mu|x|) / \ln(1 + \mu)$, for x in [-1, 1] (clamped)."""
    x = x.clamp(-1, 1)
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


def mu_law_expand(y: Tensor, mu: int = 255) -> Tensor:
    r"""$F^{-1}(y) = \mathrm{sign}(y) ((1 + \mu)^{|y|} - 1) / \mu$."""
    return torch.sign(y) * torch.expm1(y.abs() * math.log1p(mu)) / mu


def mu_law_encode(x: Tensor, mu: int = 255) -> Tensor:
    """Audio in [-1, 1] -> integer codes 0 .. mu (LongTensor): F(x) quantised to mu + 1 uniform levels."""
    y = mu_law_compress(x, mu)
    return torch.floor((y + 1) / 2 * mu + 0.5).long().clamp(0, mu)


def mu_law_decode(q: Tensor, mu: int = 255) -> Tensor:
    """Codes 0 .. mu -> audio in [-1, 1]: F^{-1}(2q/mu - 1)."""
    return mu_law_expand(2 * q.to(torch.get_default_dtype()) / mu - 1, mu)


# ---- the network


class CausalConv1d(nn.Conv1d):
    """Conv1d padded (k - 1) * dilation on the left only, so output t sees inputs t - (k-1)d .. t."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__(c_in, c_out, kernel_size, dilation=dilation)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))  # (B, C_out, T)


class ResidualBlock(nn.Module):
    r"""$z = \tanh(W_f *_d x) \odot \sigma(W_g *_d x)$; returns $(x + W_{res} z,\; W_{skip} z)$."""

    def __init__(self, residual_channels: int, skip_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.conv = CausalConv1d(residual_channels, 2 * residual_channels, kernel_size, dilation)
        self.W_res = nn.Conv1d(residual_channels, residual_channels, 1)
        self.W_skip = nn.Conv1d(residual_channels, skip_channels, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f, g = self.conv(x).chunk(2, dim=1)  # (B, R, T) each
        z = torch.tanh(f) * torch.sigmoid(g)
        return x + self.W_res(z), self.W_skip(z)


class WaveNet(nn.Module):
    """Causal input convolution, dilated gated residual blocks, skip sum, two 1x1 layers -> logits.

    ``forward(x)`` takes codes (B, T) (LongTensor, one-hot encoded inside) or a float input
    (B, n_classes, T) and returns logits (B, n_classes, T); output t predicts sample t + 1 from
    samples <= t. ``receptive_field`` counts the input convolution (dilation 1) and the blocks.
    """

    def __init__(
        self,
        n_classes: int = 256,
        residual_channels: int = 32,
        skip_channels: int = 64,
        kernel_size: int = 2,
        dilations: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.n_classes, self.kernel_size = n_classes, kernel_size
        self.dilations = list(dilations) if dilations is not None else wavenet_dilations()
        self.conv_in = CausalConv1d(n_classes, residual_channels, kernel_size)
        self.blocks = nn.ModuleList([ResidualBlock(residual_channels, skip_channels, kernel_size, d) for d in self.dilations])
        self.W_1 = nn.Conv1d(skip_channels, skip_channels, 1)
        self.W_2 = nn.Conv1d(skip_channels, n_classes, 1)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, [1] + self.dilations)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.long:
            x = F.one_hot(x, self.n_classes).transpose(1, 2).to(self.W_2.weight.dtype)  # (B, C, T)
        h = self.conv_in(x)  # (B, R, T)
        skips = 0
        for block in self.blocks:
            h, s = block(h)
            skips = skips + s
        return self.W_2(F.relu(self.W_1(F.relu(skips))))  # (B, n_classes, T)


def wavenet_loss(logits: Tensor, codes: Tensor) -> Tensor:
    """Mean next-sample cross-entropy (nats): logits (B, C, T) at t against codes (B, T) at t + 1."""
    return F.cross_entropy(logits[:, :, :-1], codes[:, 1:])


@torch.no_grad()
def generate(
    model: WaveNet,
    n: int,
    prompt: Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Continue the code sequences ``prompt`` (B, T0), T0 >= 1, by ``n`` samples, one at a time.

    Each step runs the network on the last ``receptive_field`` codes only (all that the next
    output can see); returns the new codes (B, n).
    """
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must be (B, T0) with T0 >= 1, got shape {tuple(prompt.shape)}")
    seq = prompt.to(next(model.parameters()).device)
    R = model.receptive_field
    for _ in range(n):
        logits = model(seq[:, -R:])[:, :, -1]  # (B, C)
        nxt = sample_from_logits(logits, temperature, None, generator)
        seq = torch.cat([seq, nxt[:, None].to(seq.device)], dim=1)
    return seq[:, prompt.shape[1] :]
