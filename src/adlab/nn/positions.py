r"""Position encodings: sinusoidal (fixed) and learned.

Attention treats its input as a set: permuting the tokens permutes the output.
Word order enters through a vector added to each token's embedding that
depends on its position $p$.

Sinusoidal encodings (Vaswani et al., 2017) are a **vector** per position,
one sine/cosine pair per frequency (the lecture's "scalar constants", source
L1847, is not what the method does):

$$ PE_{p, 2i} = \sin(p\,\omega_i), \qquad PE_{p, 2i+1} = \cos(p\,\omega_i), \qquad
   \omega_i = 10000^{-2i/d_{model}} $$

so the wavelengths $2\pi / \omega_i$ run geometrically from $2\pi$ to
$10000 \cdot 2\pi$. Because $\sin$ and $\cos$ of a sum expand into products,
the encoding of $p + k$ is a fixed rotation of the encoding of $p$, pair by
pair, whatever $p$ is:

$$ \begin{pmatrix} PE_{p+k, 2i} \\ PE_{p+k, 2i+1} \end{pmatrix} =
   \begin{pmatrix} \cos k\omega_i & \sin k\omega_i \\ -\sin k\omega_i & \cos k\omega_i \end{pmatrix}
   \begin{pmatrix} PE_{p, 2i} \\ PE_{p, 2i+1} \end{pmatrix} $$

(:func:`sinusoid_shift_matrix`), which makes relative offsets easy for a
linear layer to read.

Learned encodings (BERT, GPT) are simply a trained table ``(max_len, d_model)``.

Both modules map a tensor of integer positions to their vectors, so a caller
handles offsets (KV-cache decoding) by passing ``arange(offset, offset + T)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "sinusoidal_frequencies",
    "sinusoidal_position_encoding",
    "sinusoid_shift_matrix",
    "SinusoidalPositions",
    "LearnedPositions",
]


def sinusoidal_frequencies(d_model: int, base: float = 10000.0, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""$\omega_i = \mathrm{base}^{-2i/d_{model}}$ for $i = 0 \dots \lceil d_{model}/2 \rceil - 1$."""
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    return (base ** (-two_i / d_model)).to(dtype)


def sinusoidal_position_encoding(
    positions: Tensor | int,
    d_model: int,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Sinusoidal encodings of ``positions`` (a tensor, or ``n`` for ``0 .. n-1``).

    Returns ``(*positions.shape, d_model)``: even columns $\sin(p\,\omega_i)$,
    odd columns $\cos(p\,\omega_i)$. Computed in float64 and cast to ``dtype``.
    """
    if isinstance(positions, int):
        positions = torch.arange(positions)
    device = positions.device
    omega = sinusoidal_frequencies(d_model, base).to(device)  # (ceil(d/2),)
    # $p\,\omega_i$                                                        (*P, ceil(d/2))
    angles = positions.to(torch.float64).unsqueeze(-1) * omega
    pe = torch.empty(*positions.shape, d_model, dtype=torch.float64, device=device)
    pe[..., 0::2] = torch.sin(angles)
    pe[..., 1::2] = torch.cos(angles[..., : d_model // 2])
    return pe.to(dtype)


def sinusoid_shift_matrix(k: int, d_model: int, base: float = 10000.0, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The ``(d_model, d_model)`` matrix $M_k$ with $PE_{p+k} = M_k\,PE_p$ for every $p$.

    Block diagonal, one $2 \times 2$ rotation by $-k\omega_i$ per (sin, cos)
    pair (a trailing odd sine column, if any, has no partner and is left out:
    its row is zero).
    """
    omega = sinusoidal_frequencies(d_model, base)
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        c, s = torch.cos(k * omega[i]), torch.sin(k * omega[i])
        a, b = 2 * i, 2 * i + 1
        # $\sin(\omega(p+k)) = \sin(\omega p)\cos(\omega k) + \cos(\omega p)\sin(\omega k)$
        M[a, a], M[a, b] = c, s
        # $\cos(\omega(p+k)) = \cos(\omega p)\cos(\omega k) - \sin(\omega p)\sin(\omega k)$
        M[b, a], M[b, b] = -s, c
    return M.to(dtype)


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal encodings; no parameters, any position.

    ``forward(positions)`` returns ``(*positions.shape, d_model)`` in the
    module's ``dtype`` (set at construction, or follows ``.to(dtype)`` /
    ``.double()`` through a zero-size buffer).
    """

    def __init__(self, d_model: int, base: float = 10000.0) -> None:
        super().__init__()
        self.d_model, self.base = d_model, base
        # carries device and dtype through .to(...), holds nothing, not saved
        self.register_buffer("_like", torch.empty(0), persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        pe = sinusoidal_position_encoding(positions.to(self._like.device), self.d_model, self.base)
        return pe.to(self._like.dtype)


class LearnedPositions(nn.Module):
    """A trained table of ``max_len`` position vectors, initialised N(0, std²)."""

    def __init__(self, max_len: int, d_model: int, std: float = 0.02) -> None:
        super().__init__()
        self.max_len = max_len
        self.table = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.table.weight, std=std)

    def forward(self, positions: Tensor) -> Tensor:
        # the friendly check reads the largest position back to the host; on a GPU that would stall
        # every step (and break torch.compile's graph), so there the embedding's own bounds check acts
        if (positions.device.type == "cpu" and not torch.compiler.is_compiling() and positions.numel()
                and int(positions.max()) >= self.max_len):
            raise ValueError(
                f"position {int(positions.max())} is past the learned table's {self.max_len} positions"
            )
        return self.table(positions)
