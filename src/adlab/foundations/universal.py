r"""Universal approximation in one dimension, by construction (Cybenko 1989; Hornik 1991).

A steep sigmoid is a step: $\sigma(k(x - a)) \to \mathbb 1[x > a]$ as $k \to \infty$. Two of them
make a *bump* of height $h$ on $[a, b]$,

$$ h\,\big[\sigma(k(x - a)) - \sigma(k(x - b))\big] \;\to\; h\,\mathbb 1[a < x < b], $$

so a hidden layer of $2m$ sigmoid units and one linear output unit can draw any staircase of
$m$ bumps, and a staircase fine enough approximates any continuous function on an interval.
The lecture's example has 3 bumps from 6 units with heights (output weights) 0.5, 0.33 and 1.5.
In $d$ dimensions the same recipe needs a bump per cell of a grid, $m^d$ of them, which is why
the construction proves existence but costs exponentially many units in the input dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# the lecture's example: three bumps on [0, 1] with output weights 0.5, 0.33 and 1.5
LECTURE_EDGES: tuple[tuple[float, float], ...] = ((0.1, 0.3), (0.4, 0.6), (0.7, 0.9))
LECTURE_HEIGHTS: tuple[float, ...] = (0.5, 0.33, 1.5)


class BumpNet(nn.Module):
    r"""One hidden layer of $2m$ sigmoid units, weights set so the output is $m$ bumps.

    Hidden unit pair $j$: $u_{2j} = \sigma(k x - k a_j)$, $u_{2j+1} = \sigma(k x - k b_j)$;
    output $f(x) = \sum_j h_j (u_{2j} - u_{2j+1})$, i.e. output weights $(h_j, -h_j)$.
    """

    def __init__(self, edges: Sequence[tuple[float, float]], heights: Sequence[float], k: float = 200.0) -> None:
        super().__init__()
        m = len(edges)
        if len(heights) != m:
            raise ValueError(f"{m} bumps need {m} heights, got {len(heights)}")
        cuts = torch.tensor([c for ab in edges for c in ab], dtype=torch.float64)  # (2m,) = a_1, b_1, a_2, ...
        self.hidden = nn.Linear(1, 2 * m).double()
        self.out = nn.Linear(2 * m, 1, bias=False).double()
        with torch.no_grad():
            self.hidden.weight.fill_(k)  # (2m, 1)
            self.hidden.bias.copy_(-k * cuts)  # $\sigma(k (x - c))$
            h = torch.tensor(heights, dtype=torch.float64)
            self.out.weight.copy_(torch.stack([h, -h], dim=1).reshape(1, 2 * m))  # $(h_1, -h_1, h_2, -h_2, ...)$

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.sigmoid(self.hidden(x)))  # (N, 1) -> (N, 1)


def bumps(x: torch.Tensor, edges: Sequence[tuple[float, float]], heights: Sequence[float], k: float) -> torch.Tensor:
    r"""The closed form of :class:`BumpNet`: $\sum_j h_j[\sigma(k(x - a_j)) - \sigma(k(x - b_j))]$."""
    return sum(h * (torch.sigmoid(k * (x - a)) - torch.sigmoid(k * (x - b))) for (a, b), h in zip(edges, heights))


def staircase(x: torch.Tensor, edges: Sequence[tuple[float, float]], heights: Sequence[float]) -> torch.Tensor:
    r"""The $k \to \infty$ limit: $\sum_j h_j \mathbb 1[a_j < x < b_j]$."""
    return sum(h * ((x > a) & (x < b)).to(x.dtype) for (a, b), h in zip(edges, heights))


def target(x: torch.Tensor) -> torch.Tensor:
    r"""The 1-D function the trained nets approximate on $[-1, 1]$: $\sin(3\pi x / 2)\, e^{-x^2} + x^2/2$."""
    return torch.sin(1.5 * torch.pi * x) * torch.exp(-(x**2)) + 0.5 * x**2


def fit_width(width: int, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, seed: int) -> nn.Sequential:
    """A one-hidden-layer sigmoid net of ``width`` units fitted to (x, y) by full-batch Adam (cosine lr)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(1, width), nn.Sigmoid(), nn.Linear(width, 1)).double()
    with torch.no_grad():  # spread the units' centres over the interval: $\sigma(w(x - c))$
        w = 4.0 + 4.0 * torch.rand(width, dtype=torch.float64)
        sign = torch.where(torch.rand(width) < 0.5, -1.0, 1.0).double()
        c = torch.empty(width, dtype=torch.float64).uniform_(-1, 1)
        net[0].weight.copy_((sign * w)[:, None])
        net[0].bias.copy_(-sign * w * c)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net
