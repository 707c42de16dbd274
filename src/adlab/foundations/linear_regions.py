r"""Counting the linear regions of ReLU networks (Montúfar, Pascanu, Cho & Bengio, NeurIPS 2014).

A ReLU network $f(x) = W_{L+1} h_L + b_{L+1}$, $h_l = \mathrm{relu}(W_l h_{l-1} + b_l)$, is
piecewise affine: on the set of inputs that share one *activation pattern*
$s(x) = (\mathbb 1[W_l h_{l-1} + b_l > 0])_{l=1..L} \in \{0,1\}^{N}$ every ReLU is a fixed
identity or zero, so $f$ is one affine map there. The pattern regions are the linear regions.
:func:`count_regions` evaluates the patterns on a dense grid of a 2-D box and counts
the distinct ones that fill at least one grid cell (tiny slivers between grid points are missed,
so the count is a lower bound that converges as the grid is refined).

Two reference counts:

- one hidden layer of $n$ units on a 2-D input cuts the plane by $n$ lines; in general position
  they make $1 + n + \binom n2$ regions (:func:`arrangement_regions`), the most any shallow net
  with $n$ units can have;
- depth folds the input: the tent map $t(u) = 2\,\mathrm{relu}(u) - 4\,\mathrm{relu}(u - \tfrac12)$
  sends $[0, 1]$ onto itself twice, so $L$ composed tents have $2^L$ affine pieces with 2 units a
  layer (:func:`sawtooth_net`); one tent stack per coordinate gives $4^L$ regions of the square.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def relu_net(sizes: Sequence[int], seed: int, bias_std: float = 0.1) -> nn.Sequential:
    r"""A random ReLU net ``sizes[0] -> ... -> sizes[-1]`` with He-scaled Gaussian weights
    $W_{ij} \sim \mathcal N(0, 2/\text{fan-in})$ and biases $b_i \sim \mathcal N(0, \sigma_b^2)$."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g, dtype=torch.float64) * (2.0 / a) ** 0.5)
            lin.bias.copy_(torch.randn(b, generator=g, dtype=torch.float64) * bias_std)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@torch.no_grad()
def activation_patterns(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    r"""The pattern $s(x) \in \{0,1\}^N$ of every hidden ReLU for each row of ``x`` (P, d) -> (P, N) bool."""
    bits = []
    h = x
    for layer in net:
        h = layer(h)
        if isinstance(layer, nn.Linear) and layer is not net[-1]:
            bits.append(h > 0)  # $s_l = \mathbb 1[W_l h_{l-1} + b_l > 0]$
    return torch.cat(bits, dim=1)


def grid(lo: float, hi: float, resolution: int) -> torch.Tensor:
    """The centres of a ``resolution``² grid of cells over [lo, hi]², row-major, (R*R, 2) float64.

    Cell centres, not edges: a region boundary that falls exactly on the box's edge (a unit with
    pre-activation 0 there) would otherwise add a spurious pattern."""
    h = (hi - lo) / resolution
    t = lo + h * (torch.arange(resolution, dtype=torch.float64) + 0.5)
    u, v = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=1)


@torch.no_grad()
def region_ids(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """An integer id per row of ``x``: equal ids <=> equal activation patterns. (P, d) -> (P,)."""
    s = activation_patterns(net, x)  # (P, N)
    _, ids = torch.unique(s, dim=0, return_inverse=True)
    return ids


def count_regions(net: nn.Sequential, lo: float = -1.0, hi: float = 1.0, resolution: int = 400) -> int:
    """Number of distinct activation patterns met on a ``resolution``² grid of [lo, hi]²."""
    return int(region_ids(net, grid(lo, hi, resolution)).max().item()) + 1


def count_regions_1d(net: nn.Sequential, lo: float, hi: float, n: int = 100_000) -> int:
    """Linear pieces of a net with a 1-D input along [lo, hi]: runs of constant pattern on ``n`` points."""
    x = (lo + (hi - lo) * (torch.arange(n, dtype=torch.float64) + 0.5) / n)[:, None]
    s = activation_patterns(net, x)  # (n, N)
    changes = (s[1:] != s[:-1]).any(dim=1)
    return int(changes.sum().item()) + 1


def arrangement_regions(n: int) -> int:
    r"""Regions of the plane cut by $n$ lines in general position: $1 + n + n(n-1)/2$."""
    return 1 + n + n * (n - 1) // 2


def sawtooth_net(depth: int, d_in: int = 2) -> nn.Sequential:
    r"""The folding net: per input coordinate, ``depth`` tent maps $t(u) = 2\,\mathrm{relu}(u) -
    4\,\mathrm{relu}(u - 1/2)$ composed, so it has $(2^{L})^{d}$ linear regions on $[0, 1]^{d}$.

    Each hidden layer has 2 units per coordinate, $r_1 = \mathrm{relu}(u)$, $r_2 = \mathrm{relu}(u - 1/2)$;
    the next layer reads $u' = 2 r_1 - 4 r_2$ through its weights. The last layer sums the coordinates.
    """
    layers: list[nn.Module] = []
    for l in range(depth):
        lin = nn.Linear(d_in if l == 0 else 2 * d_in, 2 * d_in).double()
        W = torch.zeros(2 * d_in, lin.in_features, dtype=torch.float64)
        for k in range(d_in):
            # input coordinate k: u itself (first layer) or the tent 2 r_1 - 4 r_2 of the layer below
            src = {k: 1.0} if l == 0 else {2 * k: 2.0, 2 * k + 1: -4.0}
            for j, w in src.items():
                W[2 * k, j] = w  # $r_1 = \mathrm{relu}(u)$
                W[2 * k + 1, j] = w  # $r_2 = \mathrm{relu}(u - 1/2)$
        b = torch.tensor([0.0, -0.5] * d_in, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(W)
            lin.bias.copy_(b)
        layers += [lin, nn.ReLU()]
    out = nn.Linear(2 * d_in, 1).double()
    with torch.no_grad():
        out.weight.copy_(torch.tensor([[2.0, -4.0] * d_in], dtype=torch.float64))
        out.bias.zero_()
    layers.append(out)
    return nn.Sequential(*layers)
