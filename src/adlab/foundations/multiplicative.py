r"""The multiplicative interaction unit (Jayakumar et al., ICLR 2020).

An MLP of affine maps and ReLUs is piecewise linear, so it can only *approximate*
the product $x\cdot z$ on a bounded region and fails outside it. A multiplicative
interaction represents it exactly with a 3-tensor $\mathbb{W}$:

$$ f(x, z) = z^\top \mathbb{W} x + U x + V z + b,\qquad
   f_k = \sum_{i,j} x_i \mathbb{W}_{kij} z_j + (Ux)_k + (Vz)_k + b_k . $$

Read from $z$'s side it is a *hypernetwork*: $z$ chooses the weight matrix
$W(z) = \mathbb{W} z + U$ of a linear layer applied to $x$,
$f = W(z)\,x + Vz + b$ -- gating, attention and conditional execution are special
cases. With one output, $\mathbb{W}_{0} = I$ and $U, V, b = 0$ it is the dot
product $x^\top z$; in one dimension, the product $x z$.

Reference: S. M. Jayakumar, W. M. Czarnecki, J. Menick, J. Schwarz, J. Rae,
S. Osindero, Y. W. Teh, T. Harley, R. Pascanu. "Multiplicative Interactions and
Where to Find Them", ICLR 2020. (The lecture source, L569, credits "Siddhant et al.,
ICML"; the first author is Siddhant M. Jayakumar and the venue is ICLR 2020.)
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MultiplicativeInteraction(nn.Module):
    r"""$y = x^\top \mathbb{W} z + U x + V z + b$ for batches of ``x`` and ``z``.

    Shapes: ``x`` (B, d_x), ``z`` (B, d_z) -> ``y`` (B, d_out);
    ``W`` (d_out, d_x, d_z), ``U`` (d_out, d_x), ``V`` (d_out, d_z), ``b`` (d_out,).
    """

    def __init__(self, d_x: int, d_z: int, d_out: int, bias: bool = True) -> None:
        super().__init__()
        self.d_x, self.d_z, self.d_out = d_x, d_z, d_out
        self.W = nn.Parameter(torch.empty(d_out, d_x, d_z))
        self.U = nn.Parameter(torch.empty(d_out, d_x))
        self.V = nn.Parameter(torch.empty(d_out, d_z))
        self.b = nn.Parameter(torch.empty(d_out)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) per term, as torch's Linear/Bilinear.
        nn.init.uniform_(self.W, -1.0 / math.sqrt(self.d_x), 1.0 / math.sqrt(self.d_x))
        nn.init.uniform_(self.U, -1.0 / math.sqrt(self.d_x), 1.0 / math.sqrt(self.d_x))
        nn.init.uniform_(self.V, -1.0 / math.sqrt(self.d_z), 1.0 / math.sqrt(self.d_z))
        if self.b is not None:
            nn.init.uniform_(self.b, -1.0 / math.sqrt(self.d_x), 1.0 / math.sqrt(self.d_x))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        if x.shape != (B, self.d_x) or z.shape != (B, self.d_z):
            raise ValueError(
                f"expected x ({B}, {self.d_x}) and z ({B}, {self.d_z}), "
                f"got {tuple(x.shape)} and {tuple(z.shape)}"
            )
        # $W(z) = \mathbb{W} z + U$: one weight matrix per example.
        W_z = (z @ self.W.reshape(self.d_out * self.d_x, self.d_z).T).reshape(
            B, self.d_out, self.d_x
        )  # (B, d_out, d_x)
        W_z = W_z + self.U  # (B, d_out, d_x)
        # $y = W(z)\, x + V z + b$
        y = (W_z @ x.unsqueeze(-1)).squeeze(-1)  # (B, d_out)
        y = y + z @ self.V.T  # (B, d_out)
        if self.b is not None:
            y = y + self.b
        return y

    @classmethod
    def dot_product(cls, dim: int, dtype: torch.dtype = torch.float64) -> MultiplicativeInteraction:
        r"""The unit with weights set so that $f(x, z) = x^\top z$ exactly ($x z$ for dim 1)."""
        unit = cls(dim, dim, 1).to(dtype)
        with torch.no_grad():
            unit.W.copy_(torch.eye(dim, dtype=dtype).unsqueeze(0))  # (1, dim, dim)
            unit.U.zero_()
            unit.V.zero_()
            unit.b.zero_()
        return unit
